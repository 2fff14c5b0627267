// What the "model" answers: the `~text=` option verbatim, a tool-call turn when
// `~tool_calls=` is set and the conversation does not end with a tool result, or else
// an echo of the last user message so a test can see its prompt arrived. `~repeat=N` says
// the text N times over. Reasoning models think first, as the real ones do: Zhipu glm-4.5
// and later unless `thinking: {type: "disabled"}`, DeepSeek's deepseek-reasoner always
// (deepseek-chat with `thinking: {type: "enabled"}`), any model given `~reasoning=<text>`.
// `~extraction=<mode>` answers agentmem's memory-extraction requests (extraction.ts);
// `~summary=digest` its summary requests (the conversation in a `<conversation>` block of the
// system message) with a digest that changes with what it covers, as a real summary would.
import { extractionAnswer, extractionRequest } from './extraction.ts';
import { newToolCallId, type Format } from './formats.ts';
import { contentText, tokenize } from './tokens.ts';
import type { ToolCallOut, Turn } from './turn.ts';

/** The most `~repeat=` may ask for: answers of a few hundred MB at most. */
const MAX_REPEAT = 10_000_000;
/** What of the request decides whether the model thinks. */
export interface ThinkingRequest {
  model?: unknown;
  thinking?: { type?: unknown };
}

/** Does this model think on this request? */
export function thinks(format: Format, body: ThinkingRequest, options: Record<string, string>): boolean {
  const model = typeof body.model === 'string' ? body.model : '';
  const type = body.thinking?.type;
  // Claude thinks only when asked: thinking {type: "enabled", budget_tokens}
  if (format === 'anthropic') return type === 'enabled' || (options.reasoning !== undefined && type !== 'disabled');
  if (format === 'zhipu') return type !== 'disabled' && (/^glm-(4\.[5-9]|[5-9])/.test(model) || options.reasoning !== undefined);
  if (model === 'deepseek-reasoner') return true;
  if (model.startsWith('deepseek')) return type === 'enabled';
  return options.reasoning !== undefined && type !== 'disabled';
}

interface Message {
  role?: unknown;
  content?: unknown;
}

export function planTurn(messages: Message[], options: Record<string, string>, format: Format, body: ThinkingRequest = {}): Turn {
  const last = messages.at(-1);
  const reasoning = thinks(format, body, options)
    ? tokenize(options.reasoning ?? `The user wrote "${lastUserText(messages)}". I will answer it directly.`)
    : [];
  const calls = options.tool_calls !== undefined ? parseToolCalls(options.tool_calls, format) : [];
  if (calls.length && last?.role !== 'tool') return { kind: 'tools', calls, reasoning };
  const text =
    extractionText(messages, options) ??
    summaryText(messages, options) ??
    options.text ??
    (last?.role === 'tool' ? `Tool said: ${contentText(last.content)}` : `Echo: ${lastUserText(messages)}`);
  const repeat = Math.min(MAX_REPEAT, Math.max(1, Math.floor(Number(options.repeat)) || 1));
  return { kind: 'text', text, tokens: tokenize(text), repeat, reasoning };
}

/** Completion tokens: reasoning tokens, plus streamed text tokens, or for tool calls the argument text as tokens plus one per call. */
export function completionTokens(turn: Turn): number {
  if (turn.kind === 'text') return turn.reasoning.length + turn.tokens.length * turn.repeat;
  return turn.reasoning.length + turn.calls.reduce((n, c) => n + 1 + tokenize(c.arguments).length, 0);
}

/** With `~extraction=`, the answer to an extraction request (undefined for any other request). */
function extractionText(messages: Message[], options: Record<string, string>): string | undefined {
  if (options.extraction === undefined) return undefined;
  const req = extractionRequest(lastUserText(messages));
  return req && extractionAnswer(options.extraction, req);
}

/** With `~summary=`, the answer to a summary request: the previous summary's last entries and one for the new part. */
function summaryText(messages: Message[], options: Record<string, string>): string | undefined {
  if (options.summary === undefined || messages[0]?.role !== 'system') return undefined;
  const system = contentText(messages[0].content);
  const lines = /<conversation>\n([\s\S]*?)\n<\/conversation>/.exec(system)?.[1]?.split('\n');
  if (!lines) return undefined;
  const previous = /<previous_summary>\n([\s\S]*?)\n<\/previous_summary>/.exec(system)?.[1]?.trim();
  const entries = previous ? previous.split('\n').slice(-3) : [];
  entries.push(`${lines.length} messages, the last: ${lines.at(-1)!.slice(0, 120)}`);
  return entries.join('\n');
}

function lastUserText(messages: Message[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === 'user') return contentText(messages[i]!.content);
  }
  return '';
}

// `[{"name": "get_weather", "arguments": {"city": "Paris"}}]`; arguments may also be a JSON string.
function parseToolCalls(raw: string, format: Format): ToolCallOut[] {
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    return [];
  }
  if (!Array.isArray(list)) return [];
  return list
    .filter((c): c is { name: string; arguments?: unknown } => typeof c?.name === 'string')
    .map((c) => ({
      id: newToolCallId(format),
      name: c.name,
      arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments ?? {}),
    }));
}
