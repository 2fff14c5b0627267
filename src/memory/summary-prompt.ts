// The summary request: the earlier summary (if any) and the oldest unsummarized part of
// the conversation in the system message, one short instruction as the user's. A model
// answers with the new rolling summary, as plain text.
import type { ChatMessage } from '../llm/types.ts';

import { SUMMARY_MARKER } from '../llm/task-markers.ts';

/** Longest summary asked for, in tokens (the request's max_tokens). */
export const SUMMARY_MAX_TOKENS = 1_024;

export interface SummaryInput {
  previous: string | null;
  conversation: Array<{ role: 'user' | 'assistant'; content: string }>;
}

export function summaryMessages(input: SummaryInput): ChatMessage[] {
  const lines = input.conversation.map((m) => `${m.role}: ${m.content.replace(/\s*\n\s*/g, ' ')}`);
  const system = `${SUMMARY_MARKER}
You keep a running summary of a long conversation between a user and an assistant, so the
assistant can go on without the old messages. Merge the previous summary (if any) with the
conversation below into one summary: what the user told about themselves, what was asked and
decided, names, numbers, open questions. Plain text, at most 300 words, no preamble.
<previous_summary>
${input.previous ?? ''}
</previous_summary>
<conversation>
${lines.join('\n')}
</conversation>`;
  return [
    { role: 'system', content: system },
    { role: 'user', content: 'Write the updated summary of the conversation above.' },
  ];
}
