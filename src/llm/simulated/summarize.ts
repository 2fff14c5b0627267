// The simulated model's answer to a summary request: deterministic and offline. It keeps
// the previous summary and adds the first sentence of each user message, newest last,
// dropping the oldest lines past MAX_CHARS. No meaning, just enough to see a summary work.

const MAX_CHARS = 2_000;

export function simulatedSummary(system: string): string {
  const previous = /<previous_summary>\n([\s\S]*?)\n?<\/previous_summary>/.exec(system)?.[1]?.trim() ?? '';
  const conversation = /<conversation>\n([\s\S]*?)\n?<\/conversation>/.exec(system)?.[1] ?? '';
  const lines = previous ? previous.split('\n') : [];
  for (const line of conversation.split('\n')) {
    if (!line.startsWith('user: ')) continue;
    const first = line
      .slice(6)
      .split(/(?<=[.!?。！？])\s/u)[0]!
      .trim()
      .slice(0, 160);
    if (first) lines.push(`- The user said: ${first}`);
  }
  while (lines.length > 1 && lines.join('\n').length > MAX_CHARS) lines.shift();
  return lines.join('\n');
}
