// A /v1/chat/completions request body → a turn's input, dropping nothing silently: every
// field is either used (sampling settings, the client's system messages, its tools and the
// tool round it answers) or refused with a 400 naming it (image parts, n > 1, logprobs, …).
// The agent's settings are limits the client cannot lift (clientLimits): max_tokens is capped
// at the agent's, a sampling setting is taken only within llm.client_overrides, and an end
// user's scoped key sends no system messages.
import type { AgentConfig } from '../../agent/config.ts';
import type { ChatInput } from '../../agent/turn-types.ts';
import type { ChatMessage, ToolCall, ToolSpec } from '../../llm/types.ts';
import { clientHistory } from './client-history.ts';

/** A field the route cannot honour: a 400 with OpenAI's `param` naming it. */
export class UnsupportedField extends Error {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
  }
}

// Fields used as they are, or checked below.
const KNOWN = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'user',
  'n',
  'temperature',
  'top_p',
  'max_tokens',
  'max_completion_tokens',
  'stop',
  'seed',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'logprobs',
  'top_logprobs',
  'frequency_penalty',
  'presence_penalty',
]);

const refuse = (param: string, why: string): never => {
  throw new UnsupportedField(param, `${param}: ${why}`);
};

type Body = Record<string, unknown> & { messages: Array<Record<string, unknown>> };

/** Everything of the turn the body decides: the user's message and what surrounds it. */
export type CompletionTurn = Pick<ChatInput, 'message' | 'history' | 'system' | 'request' | 'clientTools' | 'continuation'>;

/** What the caller may decide beside the agent: the agent's llm settings, and whether the key is an end user's. */
export interface ClientLimits {
  llm: Pick<AgentConfig['llm'], 'max_tokens' | 'client_overrides'>;
  /** a scoped (end-user) key: its system messages are refused */
  scoped: boolean;
}

export function completionTurn(body: Body, serverTools: ReadonlySet<string>, limits: ClientLimits): CompletionTurn {
  for (const key of Object.keys(body)) if (!KNOWN.has(key)) refuse(key, 'this field is not supported by agentmem');
  if (body.n != null && body.n !== 1) refuse('n', 'only n = 1 is supported (one answer per request)');
  if (body.logprobs === true) refuse('logprobs', 'log probabilities are not supported');
  if (body.top_logprobs != null) refuse('top_logprobs', 'log probabilities are not supported');
  for (const p of ['frequency_penalty', 'presence_penalty'] as const)
    if (body[p] != null && body[p] !== 0) refuse(p, 'penalties are not supported (not every provider has them)');
  if (body.parallel_tool_calls === false) refuse('parallel_tool_calls', 'the model may always ask for several tools at once');
  if (body.tool_choice != null && body.tool_choice !== 'auto' && body.tool_choice !== 'none') refuse('tool_choice', 'only "auto" and "none" are supported');

  const clientTools = toolSpecs(body.tools, serverTools);
  const messages = body.messages.map(toMessage);
  if (limits.scoped) {
    const i = messages.findIndex((m) => m.role === 'system');
    if (i >= 0) refuse(`messages.${i}`, "system messages are not accepted from a scoped API key: the agent's system prompt is the only one");
  }
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content ?? '');
  const rest = messages.filter((m) => m.role !== 'system');
  const lastUser = rest.findLastIndex((m) => m.role === 'user');
  if (lastUser < 0 || !rest[lastUser]!.content?.trim()) refuse('messages', 'there must be a user message with text content that is not blank');
  const continuation = rest.slice(lastUser + 1);
  // After the user's message, only the tool round the client answers: the model's calls, then their results.
  if (continuation.length && (continuation.at(-1)!.role !== 'tool' || continuation[0]!.role !== 'assistant' || !continuation[0]!.tool_calls?.length)) {
    refuse('messages', 'the last message must be a user message, or the results (role "tool") of the assistant\'s tool calls');
  }

  const num = (k: string) => (typeof body[k] === 'number' ? (body[k] as number) : undefined);
  const stop = body.stop;
  const request = {
    temperature: allowed('temperature', num('temperature'), limits.llm.client_overrides?.temperature),
    top_p: allowed('top_p', num('top_p'), limits.llm.client_overrides?.top_p),
    max_tokens: capped(num('max_completion_tokens') ?? num('max_tokens'), limits.llm.max_tokens),
    seed: num('seed'),
    stop: typeof stop === 'string' || Array.isArray(stop) ? (stop as string | string[]) : undefined,
  };
  return {
    message: rest[lastUser]!.content!,
    history: clientHistory(rest.slice(0, lastUser)),
    system: system.length ? system : undefined,
    request,
    clientTools: body.tool_choice === 'none' || !clientTools.length ? undefined : clientTools,
    continuation: continuation.length ? continuation : undefined,
  };
}

/** A client's sampling setting, only within the range the agent lists for it (none listed: refused). */
function allowed(param: string, value: number | undefined, range: { min: number; max: number } | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!range) return refuse(param, `this agent does not let clients set ${param} (the agent's llm.client_overrides lists what they may set)`);
  if (value < range.min || value > range.max) return refuse(param, `this agent allows ${param} from ${range.min} to ${range.max}`);
  return value;
}

/** The agent's max_tokens is a ceiling: the client may ask for fewer, never for more. */
const capped = (asked: number | undefined, agent: number | undefined) => (asked === undefined || agent === undefined ? asked : Math.min(asked, agent));

function toMessage(m: Record<string, unknown>, i: number): ChatMessage {
  const at = `messages.${i}`;
  const role = m.role as string;
  if (role === 'function' || m.function_call != null) refuse(at, 'function messages (the deprecated `functions` API) are not supported; use tools');
  for (const key of ['audio', 'refusal']) if (m[key] != null) refuse(`${at}.${key}`, 'not supported');
  const content = textOf(m.content, at);
  if (role === 'system' || role === 'developer') return { role: 'system', content };
  if (role === 'tool') {
    if (typeof m.tool_call_id !== 'string') refuse(`${at}.tool_call_id`, 'a tool message names the call it answers');
    return { role: 'tool', content: content ?? '', tool_call_id: m.tool_call_id as string };
  }
  if (role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length) {
    const calls = m.tool_calls.map((c: any, j: number): ToolCall => {
      if (c?.type !== 'function' || typeof c.id !== 'string' || typeof c.function?.name !== 'string')
        refuse(`${at}.tool_calls.${j}`, 'a function tool call with id and name');
      return { id: c.id, name: c.function.name, arguments: typeof c.function.arguments === 'string' ? c.function.arguments : '' };
    });
    return { role: 'assistant', content: content || null, tool_calls: calls };
  }
  return { role: role as 'user' | 'assistant', content };
}

/** Text content: a string, or text parts; any other part (images, audio, files) is refused by name. */
function textOf(content: unknown, at: string): string | null {
  if (content == null) return null;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return refuse(`${at}.content`, 'a string or an array of text parts');
  return content
    .map((p: any, j: number) => {
      if (p?.type !== 'text') refuse(`${at}.content.${j}.type`, `"${p?.type}" parts are not supported (text only until multimodal input lands)`);
      return typeof p.text === 'string' ? p.text : '';
    })
    .join('');
}

/** The client's function tools, which it runs itself; a name the agent's own tools use is refused. */
function toolSpecs(tools: unknown, serverTools: ReadonlySet<string>): ToolSpec[] {
  if (tools == null) return [];
  if (!Array.isArray(tools)) return refuse('tools', 'an array of function tools');
  return tools.map((t: any, i: number): ToolSpec => {
    if (t?.type !== 'function' || typeof t.function?.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(t.function.name)) {
      refuse(`tools.${i}`, 'a function tool with a name of letters, digits, _ and - (max 64)');
    }
    if (serverTools.has(t.function.name)) refuse(`tools.${i}.function.name`, `"${t.function.name}" is a tool of the agent itself`);
    return {
      name: t.function.name,
      ...(typeof t.function.description === 'string' ? { description: t.function.description } : {}),
      parameters: t.function.parameters && typeof t.function.parameters === 'object' ? t.function.parameters : { type: 'object', properties: {} },
      ...(typeof t.function.strict === 'boolean' ? { strict: t.function.strict } : {}),
    };
  });
}
