// The streaming run: one chat turn from the user's message to the stored answer.
// Independent work (storing the user's message, recall, making the upstream
// connection ready) runs at once; nothing waits that the first token does not need.
import type { Dispatcher } from 'undici';
import { onAbort, sleep, unlessAborted } from '../abort.ts';
import type { ChatMessage, FinishReason, LlmRequest, ToolCall, ToolSpec, Usage } from '../llm/types.ts';
import { UpstreamError } from '../llm/errors.ts';
import type { History, Turn } from '../memory/history.ts';
import type { MemoryChange } from '../memory/memories.ts';
import { MESSAGE_OVERHEAD } from '../llm/token-count.ts';
import { countChat } from '../memory/window-messages.ts';
import type { WorkingMemories } from '../memory/working-memory.ts';
import type { Timings } from '../trace/timings.ts';
import type { ReadyAgent } from './cache.ts';
import { budgetOf, checkUserFits, ContextTooLongError, countUser, fitTurn } from './context-window.ts';
import type { EventSink } from './events.ts';
import type { RecalledMemory } from './prompt.ts';
import { callWorkingTool, turnTools } from './working-tool.ts';
import { stopOf, TurnStop } from './stop.ts';
import { createTextBuffer } from './text-buffer.ts';
import type { McpTools } from './mcp-tools.ts';
import { callTool, toolSpecs, type MemoryTools, type ToolResult } from './tools.ts';

/** A tool call as stored with the answer: what was asked, in which step, and what came back (`client`: left to the caller to run). */
export type StoredToolCall = ToolCall & ToolResult & { step: number; client?: true };

export interface ChatInput {
  orgId: string;
  message: string;
  userId?: string;
  sessionId?: string;
  /** earlier messages the client sent itself (OpenAI-style clients); used instead of the stored window */
  history?: ChatMessage[];
  /** OpenAI-style clients: their own system messages, after the agent's */
  system?: string[];
  /** OpenAI-style clients: sampling settings for this turn, over the agent's */
  request?: Pick<LlmRequest, 'temperature' | 'top_p' | 'max_tokens' | 'stop' | 'seed'>;
  /** tools the client declared and runs itself: a call to one ends the turn with finish_reason tool_calls */
  clientTools?: ToolSpec[];
  /** after the user's message: the tool round the client answers (the model's calls, their results) */
  continuation?: ChatMessage[];
}

export interface RunDeps {
  history: History;
  /** semantic recall under the agent's budget; never throws, [] when skipped (or when `signal` fires) */
  recall?: (agent: ReadyAgent, userId: string | null, query: string, timings: Timings, signal?: AbortSignal) => Promise<RecalledMemory[]>;
  /** after an answer is stored: queues memory extraction; resolves with the changes when the caller wants them */
  afterTurn?: (agent: ReadyAgent, turn: Turn, answer: string, wait: boolean) => Promise<MemoryChange[]>;
  /** for the built-in memory tools */
  memories?: MemoryTools;
  /** working memory (memory.working): the prompt's block and the working_memory_update tool */
  working?: WorkingMemories;
  /** the app's connection pool, for HTTP tools (its egress policy applies to them) */
  dispatcher: Dispatcher;
  /** the agents' MCP servers (connected on an agent's first use, their tool lists cached) */
  mcp?: McpTools;
  /** counts runs before their first token, so background work can wait for none */
  gate?: { enter(): void; leave(): void };
}

export interface RunResult {
  sessionId: string;
  messageId: string;
  content: string;
  /** what a thinking model reasoned ('' for others) */
  reasoning: string;
  finishReason: FinishReason | null;
  usage: Usage | null;
  error?: { code: string; message: string; retryable: boolean };
  aborted: boolean;
  /** the model that answered (the fallback's, if it won the race) */
  model: string;
}

const CHECKPOINT_MS = 1_000;

/** A request that cannot run (unknown session, wrong user): answered 4xx before any byte streams. */
export class ChatInputError extends Error {
  constructor(
    readonly code: 'not_found' | 'bad_request' | 'context_too_long',
    message: string,
  ) {
    super(message);
    this.name = 'ChatInputError';
  }
}

export async function runChat(
  deps: RunDeps,
  agent: ReadyAgent,
  input: ChatInput,
  sink: EventSink,
  signal: AbortSignal,
  timings: Timings,
): Promise<RunResult> {
  const { config } = agent;
  // The turn's own abort: the client leaving (perhaps already gone, during auth), or the
  // user's message failing to store. Every stage before the first token stops on it.
  const turnAbort = new AbortController();
  const abortTurn = () => turnAbort.abort();
  const detach = onAbort(signal, abortTurn);
  let waiting = true;
  const firstTokenSeen = () => {
    if (waiting) {
      waiting = false;
      deps.gate?.leave();
    }
  };
  deps.gate?.enter();
  let storeFailed = false;

  try {
    const recallFor = (userId: string | null): Promise<RecalledMemory[]> =>
      deps.recall && config.memory.semantic_recall.enabled ? deps.recall(agent, userId, input.message, timings, turnAbort.signal) : Promise.resolve([]);
    // Recall needs the user: when the request names one (or starts a session), it begins
    // now, beside the history read; otherwise the session says whose memories to recall.
    const early = input.userId !== undefined || !input.sessionId ? recallFor(input.userId ?? null) : undefined;
    // MCP tools: listed on the agent's first use (beside history and recall), cached after.
    const mcpTools = deps.mcp?.toolset(agent).catch(() => undefined);

    // The session and its history window: a cache hit costs no round trip. A client that
    // leaves meanwhile still waits for it (the turn is recorded in its session), not for more.
    const t0 = performance.now();
    const existing = input.sessionId ? await deps.history.window(input.orgId, input.sessionId, config.memory.last_messages) : undefined;
    if (input.sessionId && (!existing || existing.session.agent_id !== agent.id)) throw new ChatInputError('not_found', 'Session not found.');
    if (existing && input.userId && existing.session.user_id && existing.session.user_id !== input.userId) {
      throw new ChatInputError('bad_request', 'This session belongs to another user_id.');
    }
    timings.mark('history', t0);
    const userId = input.userId ?? existing?.session.user_id ?? null;

    // The user's message is counted once, while recall runs (a long one only if it matters);
    // with the system prompt alone it must fit the window, or the turn is refused here.
    const budget = budgetOf(config.llm);
    const user = countUser(input.message);
    try {
      // (the agent's own tools count here; MCP and a client's tools are known later, and fitted then)
      checkUserFits(budget, { systemPrompt: config.system_prompt, tools: turnTools(config, config.tools.length ? toolSpecs(config.tools) : undefined), toolsKey: config }, input.message, user);
    } catch (err) {
      if (!(err instanceof ContextTooLongError)) throw err;
      abortTurn();
      throw new ChatInputError('context_too_long', err.message);
    }

    // At once: recall memories, make the upstream connection ready.
    const recalling = early ?? recallFor(userId);
    // The user's message is written after recall (the embedded engine runs one query at a
    // time, in order) and while the model thinks; finish() waits for the write.
    const turn = deps.history.begin({ orgId: input.orgId, agentId: agent.id, userId, session: existing?.session, content: input.message, tokens: user.exact ? user.tokens + MESSAGE_OVERHEAD : undefined }, recalling);
    turn.stored.catch(() => {
      storeFailed = true;
      abortTurn();
    });
    sink.emit({ chunk_type: 'start', session_id: turn.sessionId, message_id: turn.assistantMessageId, user_message_id: turn.userMessageId, agent_id: agent.id });
    const working = deps.working?.forTurn(config.memory.working, input.orgId, agent.id, userId, turn.sessionId, turn.created);
    const [recalled, mcp, , workingText] = await Promise.all([
      recalling,
      mcpTools,
      agent.provider.warm ? unlessAborted(timings.time('connect', () => agent.provider.warm!()), turnAbort.signal, undefined) : undefined,
      working?.catch(() => undefined),
    ]);

    // Fitted to the window from counts taken when each part was stored (context-window.ts).
    const tp = performance.now();
    const session = existing?.session;
    const specs = turnTools(config, config.tools.length || input.clientTools ? [...toolSpecs(config.tools, mcp), ...(input.clientTools ?? [])] : undefined);
    // A client's own system messages and tool round (OpenAI route) are sent as they are: kept out of the budget first.
    const extra: ChatMessage[] = [...(input.system ?? []).map((content): ChatMessage => ({ role: 'system', content })), ...(input.continuation ?? [])];
    const { messages } = fitTurn(extra.length ? { ...budget, limit: budget.limit - Math.ceil(countChat(extra) * budget.scale) } : budget, {
      systemPrompt: config.system_prompt,
      working: workingText,
      summary: input.history ? undefined : (session?.summary ?? undefined),
      recalled,
      history: input.history ?? (existing?.messages ?? []).filter((m) => m.seq > (session?.summarized_seq ?? 0)),
      user: input.message,
      tools: specs,
      // (the tools' count is kept per agent only when nothing but the agent's config decides them)
      toolsKey: mcp || input.clientTools ? undefined : config,
    }, user);
    if (input.system) messages.splice(messages[0]?.role === 'system' ? 1 : 0, 0, ...input.system.map((content): ChatMessage => ({ role: 'system', content })));
    if (input.continuation) messages.push(...input.continuation);
    timings.mark('prompt', tp);

    const s = config.streaming;
    let text = '';
    // A thinking model's reasoning: streamed and stored, never part of the next prompt.
    let reasoning = '';
    let step = 0;
    let firstByte = false;
    const buffer = createTextBuffer({
      size: s.text_buffer_size,
      flushIntervalMs: s.flush_interval_ms,
      onFlush(chunk) {
        if (!firstByte) {
          firstByte = true;
          const firstPart = timings.endOf('upstream_ttfb');
          if (firstPart !== undefined) timings.mark('buffer', firstPart);
          timings.mark('first_byte');
          if (s.emit_metadata) {
            sink.emit({
              chunk_type: 'metadata',
              timings: timings.toJSON(),
              recalled: recalled.map(({ id, content, score }) => ({ id, content, score })),
              model: agent.model,
              provider: agent.providerName,
            });
          }
        }
        sink.emit({ chunk_type: 'content', content: chunk, step_id: step });
      },
    });

    let finishReason: FinishReason | null = null;
    let usage: Usage | null = null;
    let model = agent.model;
    let error: RunResult['error'];
    const forClient = (c: ToolCall) => input.clientTools?.some((t) => t.name === c.name) === true;
    // What was said is saved every CHECKPOINT_MS while streaming, so a crash loses at most that much.
    let checkpointed = 0;
    const checkpoints = setInterval(() => {
      if (text.length === checkpointed) return;
      checkpointed = text.length;
      deps.history.checkpoint(turn, text);
    }, CHECKPOINT_MS);
    checkpoints.unref();
    const calls: StoredToolCall[] = [];
    const requestStart = performance.now();
    try {
      // A client gone before this point costs no model call: the request is never sent.
      if (turnAbort.signal.aborted) timings.skip('upstream_ttfb', 'aborted');
      for (step = 0; !turnAbort.signal.aborted; step++) {
        const stepCalls: ToolCall[] = [];
        let stepText = '';
        const stream = agent.provider.stream({
          model: agent.model,
          messages,
          temperature: config.llm.temperature,
          max_tokens: config.llm.max_tokens,
          thinking: config.llm.thinking,
          ...stripUndefined(input.request ?? {}),
          tools: specs,
          signal: turnAbort.signal,
        });
        for await (const part of stream) {
          if (waiting) {
            timings.mark('upstream_ttfb', requestStart);
            firstTokenSeen();
          }
          if (part.type === 'text-delta') {
            text += part.text;
            if (specs) stepText += part.text; // only a tool step sends it back (a long answer's second copy otherwise)
            buffer.push(part.text);
            if (s.text_delta_delay_ms > 0) await sleep(s.text_delta_delay_ms, turnAbort.signal);
          } else if (part.type === 'reasoning-delta') {
            if (!reasoning) timings.mark('first_reasoning', requestStart);
            reasoning += part.text;
            buffer.flush();
            sink.emit({ chunk_type: 'reasoning', content: part.text, step_id: step });
          } else if (part.type === 'tool-call') {
            stepCalls.push(part.call);
          } else if (part.type === 'finish') {
            finishReason = part.finish_reason;
            usage = addUsage(usage, part.usage);
            model = part.model ?? model;
          } else {
            error = part.error;
          }
          // Backpressure: while the client's socket is full, the upstream is not pulled.
          const full = sink.ready?.();
          if (full) await full;
        }
        // Another step only when the model asked for tools, and the budget of steps allows;
        // a call of the client's own tools ends the turn (the client runs it, then asks again).
        const clientCalls = stepCalls.filter(forClient);
        if (error || turnAbort.signal.aborted || !specs || !stepCalls.length || (step + 1 >= config.max_steps && !clientCalls.length)) break;
        buffer.flush();
        for (const c of stepCalls) sink.emit({ chunk_type: 'tool_call', step_id: step, call_id: c.id, name: c.name, arguments: c.arguments, ...(forClient(c) ? { client: true as const } : {}) });
        const serverCalls = stepCalls.filter((c) => !forClient(c));
        const results = await Promise.all(
          serverCalls.map((c) =>
            deps.working && callWorkingTool.handles(config, c)
              ? callWorkingTool(deps.working, config, c, { orgId: input.orgId, agentId: agent.id, userId, sessionId: turn.sessionId }, sink)
              : callTool(config.tools, c, { orgId: input.orgId, agentId: agent.id, userId, signal: turnAbort.signal, memories: deps.memories, dispatcher: deps.dispatcher, mcp }),
          ),
        );
        if (turnAbort.signal.aborted) break;
        messages.push({ role: 'assistant', content: stepText || null, tool_calls: serverCalls });
        serverCalls.forEach((c, i) => {
          const r = results[i]!;
          sink.emit({ chunk_type: 'tool_result', step_id: step, call_id: c.id, name: c.name, ...r });
          calls.push({ ...c, step, ...r });
          messages.push({ role: 'tool', tool_call_id: c.id, content: r.error !== undefined ? `Error: ${r.error}` : (r.output ?? '') });
        });
        if (clientCalls.length) {
          for (const c of clientCalls) calls.push({ ...c, step, duration_ms: 0, client: true });
          finishReason = 'tool_calls';
          break;
        }
      }
    } catch (err) {
      if (!turnAbort.signal.aborted) error = toRunError(err);
    } finally {
      clearInterval(checkpoints);
    }
    buffer.close();
    firstTokenSeen();
    timings.mark('total');

    // Stopped by the server (shutting down, a stalled client): an error, not a client leaving.
    const stop = stopOf(signal);
    if (stop) error = stop;
    const aborted = signal.aborted && !stop;
    const complete = !error && !aborted && !storeFailed;
    let stored = true;
    try {
      await deps.history.finish(turn, {
        content: text,
        status: complete ? 'complete' : 'incomplete',
        finish_reason: complete ? finishReason : aborted ? 'aborted' : 'error',
        usage,
        timings: timings.toJSON(),
        error: error ? { code: error.code, message: error.message } : aborted ? { code: 'client_aborted', message: 'The client went away.' } : null,
        tool_calls: calls.length ? calls : null,
        reasoning: reasoning || null,
      });
    } catch {
      stored = false;
    }
    if (!stored && !aborted) error = { code: 'storage_unavailable', message: 'The conversation could not be stored (the store is unavailable); a stored answer is retried until it is written.', retryable: true };

    if (error) {
      sink.emit({ chunk_type: 'error', code: error.code, message: error.message, retryable: error.retryable, message_id: turn.assistantMessageId });
    } else if (!aborted) {
      const updates = deps.afterTurn?.(agent, turn, text, s.emit_memory_updates);
      // Without a listener the extraction still runs; its failure is the job queue's to retry.
      updates?.catch(() => {});
      if (updates && s.emit_memory_updates) for (const u of await updates.catch(() => [])) sink.emit({ chunk_type: 'memory_update', ...u });
      sink.emit({
        chunk_type: 'done',
        session_id: turn.sessionId,
        message_id: turn.assistantMessageId,
        finish_reason: finishReason ?? 'stop',
        usage,
        timings: timings.toJSON(),
        model,
        ...(model !== agent.model ? { fallback: true } : {}),
      });
    }
    return { sessionId: turn.sessionId, messageId: turn.assistantMessageId, content: text, reasoning, finishReason, usage, error, aborted, model };
  } finally {
    firstTokenSeen();
    detach();
  }
}

const stripUndefined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

function addUsage(a: Usage | null, b: Usage | null): Usage | null {
  if (!a || !b) return a ?? b;
  return { prompt_tokens: a.prompt_tokens + b.prompt_tokens, completion_tokens: a.completion_tokens + b.completion_tokens, total_tokens: a.total_tokens + b.total_tokens };
}

function toRunError(err: unknown): NonNullable<RunResult['error']> {
  if (err instanceof TurnStop) return err.toInfo();
  if (err instanceof UpstreamError) return { code: err.code, message: err.message, retryable: err.retryable };
  return { code: 'internal_error', message: 'The run failed unexpectedly.', retryable: false };
}
