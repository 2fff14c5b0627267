// A /v1/chat/completions request body → a turn's input, dropping nothing silently: every
// field is either used (sampling settings, the client's system messages, its tools and the
// tool round it answers) or refused with a 400 naming it (image parts, n > 1, logprobs, …).
// The agent's settings are limits the client cannot lift (clientLimits): max_tokens is capped
// at the agent's, a sampling setting is taken only within llm.client_overrides, and an end
// user's scoped key sends no system messages.
import { z } from 'zod';
import type { AgentConfig } from '../../agent/config.ts';
import type { ChatInput } from '../../agent/turn-types.ts';
import type { ChatMessage, ToolCall, ToolSpec } from '../../llm/types.ts';
import { clientHistory } from './client-history.ts';
import { userId } from './users.ts';

/** A field the route cannot honour: a 400 with OpenAI's `param` naming it. */
export class UnsupportedField extends Error {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
  }
}

// The shapes and ranges, checked by the route's schema (a wrong type is a validation_error at
// its path); what is honoured, and what is refused, is completionTurn's.
const contentPart = z.looseObject({ type: z.string().max(100), text: z.string().optional() });
const toolCall = z.looseObject({
  id: z.string().max(200),
  type: z.literal('function'),
  function: z.looseObject({ name: z.string().max(200), arguments: z.string().optional() }),
});
const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(contentPart).max(1_000), z.null()]).optional(),
  name: z.string().max(200).optional(),
  tool_call_id: z.string().max(200).optional(),
  tool_calls: z.array(toolCall).max(128).nullable().optional(),
  // refused when present (toMessage)
  function_call: z.unknown().optional(),
  audio: z.unknown().optional(),
  refusal: z.unknown().optional(),
});
const clientTool = z.looseObject({
  type: z.string().max(100),
  function: z.looseObject({
    name: z.string().max(64),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).nullable().optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

export const completionBody = z.looseObject({
  model: z.string().min(1).max(200),
  messages: z.array(message).min(1).max(10_000),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  user: userId.optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  max_tokens: z.int().min(1).max(1_000_000).nullable().optional(),
  max_completion_tokens: z.int().min(1).max(1_000_000).nullable().optional(),
  stop: z
    .union([z.string().max(1_000), z.array(z.string().max(1_000)).max(4)])
    .nullable()
    .optional(),
  seed: z.int().nullable().optional(),
  tools: z.array(clientTool).max(128).nullable().optional(),
  tool_choice: z
    .union([z.string().max(100), z.looseObject({ type: z.string().max(100) })])
    .nullable()
    .optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  // accepted only at the value that changes nothing (completionTurn)
  n: z.int().nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.int().nullable().optional(),
  frequency_penalty: z.number().nullable().optional(),
  presence_penalty: z.number().nullable().optional(),
});
export type CompletionBody = z.infer<typeof completionBody>;
type Message = CompletionBody['messages'][number];

// Every other field is refused by name: the schema passes it through (a loose object) so that
// the 400 names the field rather than a generic "unrecognized key".
const KNOWN = new Set(Object.keys(completionBody.shape));

function refuse(param: string, why: string): never {
  throw new UnsupportedField(param, `${param}: ${why}`);
}

/** Everything of the turn the body decides: the user's message and what surrounds it. */
export type CompletionTurn = Pick<ChatInput, 'message' | 'history' | 'system' | 'request' | 'clientTools' | 'continuation'>;

/** What the caller may decide beside the agent: the agent's llm settings, and whether the key is an end user's. */
export interface ClientLimits {
  llm: Pick<AgentConfig['llm'], 'max_tokens' | 'client_overrides'>;
  /** a scoped (end-user) key: its system messages are refused */
  scoped: boolean;
}

export function completionTurn(body: CompletionBody, serverTools: ReadonlySet<string>, limits: ClientLimits): CompletionTurn {
  for (const key of Object.keys(body)) if (!KNOWN.has(key)) refuse(key, 'this field is not supported by agentmem');
  if (body.n != null && body.n !== 1) refuse('n', 'only n = 1 is supported (one answer per request)');
  if (body.logprobs === true) refuse('logprobs', 'log probabilities are not supported');
  if (body.top_logprobs != null) refuse('top_logprobs', 'log probabilities are not supported');
  for (const p of ['frequency_penalty', 'presence_penalty'] as const)
    if (body[p] != null && body[p] !== 0) refuse(p, 'penalties are not supported (not every provider has them)');
  if (body.parallel_tool_calls === false) refuse('parallel_tool_calls', 'the model may always ask for several tools at once');
  if (body.tool_choice != null && body.tool_choice !== 'auto' && body.tool_choice !== 'none') refuse('tool_choice', 'only "auto" and "none" are supported');

  const clientTools = toolSpecs(body.tools ?? [], serverTools);
  const messages = body.messages.map(toMessage);
  if (limits.scoped) {
    const i = messages.findIndex((m) => m.role === 'system');
    if (i >= 0) refuse(`messages.${i}`, "system messages are not accepted from a scoped API key: the agent's system prompt is the only one");
  }
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content ?? '');
  const rest = messages.filter((m) => m.role !== 'system');
  const lastUser = rest.findLastIndex((m) => m.role === 'user');
  const user = rest[lastUser];
  if (!user?.content?.trim()) return refuse('messages', 'there must be a user message with text content that is not blank');
  const continuation = rest.slice(lastUser + 1);
  // After the user's message, only the tool round the client answers: the model's calls, then their results.
  const [first] = continuation;
  if (first && (continuation.at(-1)?.role !== 'tool' || first.role !== 'assistant' || !first.tool_calls?.length)) {
    refuse('messages', 'the last message must be a user message, or the results (role "tool") of the assistant\'s tool calls');
  }

  const request = {
    temperature: allowed('temperature', body.temperature ?? undefined, limits.llm.client_overrides?.temperature),
    top_p: allowed('top_p', body.top_p ?? undefined, limits.llm.client_overrides?.top_p),
    max_tokens: capped(body.max_completion_tokens ?? body.max_tokens ?? undefined, limits.llm.max_tokens),
    seed: body.seed ?? undefined,
    stop: body.stop ?? undefined,
  };
  return {
    message: user.content,
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

function toMessage(m: Message, i: number): ChatMessage {
  const at = `messages.${i}`;
  const { role } = m;
  if (role === 'function' || m.function_call != null) refuse(at, 'function messages (the deprecated `functions` API) are not supported; use tools');
  for (const key of ['audio', 'refusal'] as const) if (m[key] != null) refuse(`${at}.${key}`, 'not supported');
  const content = textOf(m.content, at);
  if (role === 'system' || role === 'developer') return { role: 'system', content };
  if (role === 'tool') {
    if (m.tool_call_id === undefined) return refuse(`${at}.tool_call_id`, 'a tool message names the call it answers');
    return { role: 'tool', content: content ?? '', tool_call_id: m.tool_call_id };
  }
  if (role === 'assistant' && m.tool_calls?.length) {
    const calls = m.tool_calls.map((c): ToolCall => ({ id: c.id, name: c.function.name, arguments: c.function.arguments ?? '' }));
    return { role: 'assistant', content: content || null, tool_calls: calls };
  }
  return { role, content };
}

/** Text content: a string, or text parts; any other part (images, audio, files) is refused by name. */
function textOf(content: Message['content'], at: string): string | null {
  if (content == null) return null;
  if (typeof content === 'string') return content;
  return content
    .map((p, j) => {
      if (p.type !== 'text') refuse(`${at}.content.${j}.type`, `"${p.type}" parts are not supported (text only until multimodal input lands)`);
      return p.text ?? '';
    })
    .join('');
}

/** The client's function tools, which it runs itself; a name the agent's own tools use is refused. */
function toolSpecs(tools: NonNullable<CompletionBody['tools']>, serverTools: ReadonlySet<string>): ToolSpec[] {
  return tools.map(({ type, function: f }, i): ToolSpec => {
    if (type !== 'function' || !/^[a-zA-Z0-9_-]{1,64}$/.test(f.name)) refuse(`tools.${i}`, 'a function tool with a name of letters, digits, _ and - (max 64)');
    if (serverTools.has(f.name)) refuse(`tools.${i}.function.name`, `"${f.name}" is a tool of the agent itself`);
    return {
      name: f.name,
      ...(f.description !== undefined ? { description: f.description } : {}),
      parameters: f.parameters ?? { type: 'object', properties: {} },
      ...(f.strict != null ? { strict: f.strict } : {}),
    };
  });
}
