// Streaming the steps: the model's answer goes to the client through the text buffer; a
// step that asks for tools runs them and sends their results back for the next step;
// what was said is checkpointed every second. Nothing here is retried (llm/retry.ts is).
import { sleep } from '../abort.ts';
import { UpstreamError } from '../llm/errors.ts';
import type { FinishReason, ToolCall, Usage } from '../llm/types.ts';
import { createAnswerText, type AnswerText } from './answer-text.ts';
import { TurnStop } from './stop.ts';
import { createTextBuffer, type TextBuffer } from './text-buffer.ts';
import { callTool } from './tools.ts';
import type { BegunTurn } from './turn-begin.ts';
import type { TurnContext } from './turn-context.ts';
import { isUpstreamCode, type TurnError } from './turn-errors.ts';
import type { StoredToolCall } from './turn-types.ts';
import { callWorkingTool } from './working-tool.ts';

const CHECKPOINT_MS = 1_000;

/** The answer as the steps build it. */
export interface Answer {
  /** the step being streamed (0 first; one more per tool round) */
  step: number;
  /** all of it, once the steps have ended */
  text: string;
  /** the text while it streams: flat chunks, not a rope of every delta (answer-text.ts) */
  said: AnswerText;
  /** what a thinking model reasoned: streamed and stored, never part of the next prompt */
  reasoning: string;
  finishReason: FinishReason | null;
  usage: Usage | null;
  /** the model that answered (the fallback's, if it won the race) */
  model: string;
  error?: TurnError;
  calls: StoredToolCall[];
}

export async function streamSteps(turn: TurnContext, begun: BegunTurn): Promise<Answer> {
  const { agent, timings } = turn;
  const answer: Answer = { step: 0, text: '', said: createAnswerText(), reasoning: '', finishReason: null, usage: null, model: agent.model, calls: [] };
  const buffer = answerBuffer(turn, begun, answer);
  const checkpoints = startCheckpoints(turn, begun, answer);
  const requestStart = performance.now();
  try {
    // A client gone before this point costs no model call: the request is never sent.
    if (turn.signal.aborted) timings.skip('upstream_ttfb', 'aborted');
    for (answer.step = 0; !turn.signal.aborted; answer.step++) {
      const step = await streamStep(turn, begun, answer, buffer, requestStart);
      if (!(await runTools(turn, begun, answer, buffer, step))) break;
    }
  } catch (err) {
    if (!turn.signal.aborted) answer.error = toRunError(err);
  } finally {
    clearInterval(checkpoints);
  }
  answer.text = answer.said.toString();
  buffer.close();
  turn.firstToken();
  timings.mark('total');
  return answer;
}

/** The text buffer; its first flush is the first byte (marked, and followed by the metadata event when asked for). */
function answerBuffer(turn: TurnContext, begun: BegunTurn, answer: Answer): TextBuffer {
  const { agent, sink, timings } = turn;
  const s = agent.config.streaming;
  let firstByte = false;
  return createTextBuffer({
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
            recalled: begun.recalled.map(({ id, content, score }) => ({ id, content, score })),
            model: agent.model,
            provider: agent.providerName,
          });
        }
      }
      sink.emit({ chunk_type: 'content', content: chunk, step_id: answer.step });
    },
  });
}

/**
 * What was said is saved every CHECKPOINT_MS while streaming, so a crash loses at most that much.
 * Each sends only what is new since the last, never a copy of the whole answer.
 */
function startCheckpoints(turn: TurnContext, begun: BegunTurn, answer: Answer): NodeJS.Timeout {
  const timer = setInterval(() => {
    const added = answer.said.take();
    if (added) turn.deps.history.checkpoint(begun.exchange, added, answer.said.taken);
  }, CHECKPOINT_MS);
  timer.unref();
  return timer;
}

/** One model call, streamed: the text to the buffer, the reasoning as it comes; the tools it asks for, and (for a tool step) its text. */
type Step = { calls: ToolCall[]; text: string };

async function streamStep(turn: TurnContext, begun: BegunTurn, answer: Answer, buffer: TextBuffer, requestStart: number): Promise<Step> {
  const { agent, input, sink, timings } = turn;
  const { config } = agent;
  const calls: ToolCall[] = [];
  let text = '';
  const stream = agent.provider.stream({
    model: agent.model,
    messages: begun.messages,
    cache_breakpoints: begun.breakpoints,
    temperature: config.llm.temperature,
    max_tokens: config.llm.max_tokens,
    thinking: config.llm.thinking,
    ...stripUndefined(input.request ?? {}),
    tools: begun.specs,
    signal: turn.signal,
  });
  for await (const part of stream) {
    if (turn.waiting) {
      timings.mark('upstream_ttfb', requestStart);
      turn.firstToken();
    }
    if (part.type === 'text-delta') {
      answer.said.add(part.text);
      if (begun.specs) text += part.text; // only a tool step sends it back (a long answer's second copy otherwise)
      buffer.push(part.text);
      // streaming.text_delta_delay_ms: the pace asked for (the upstream read waits too; off by default)
      if (config.streaming.text_delta_delay_ms > 0) await sleep(config.streaming.text_delta_delay_ms, turn.signal);
    } else if (part.type === 'reasoning-delta') {
      if (!answer.reasoning) timings.mark('first_reasoning', requestStart);
      answer.reasoning += part.text;
      buffer.flush();
      sink.emit({ chunk_type: 'reasoning', content: part.text, step_id: answer.step });
    } else if (part.type === 'tool-call') {
      calls.push(part.call);
    } else if (part.type === 'finish') {
      answer.finishReason = part.finish_reason;
      answer.usage = addUsage(answer.usage, part.usage);
      answer.model = part.model ?? answer.model;
    } else {
      const { code, message, retryable } = part.error;
      answer.error = { code: isUpstreamCode(code) ? code : 'upstream_error', message, retryable };
    }
    // Backpressure: while the client's socket is full, the upstream is not pulled.
    const full = sink.ready?.();
    if (full) await full;
  }
  return { calls, text };
}

/**
 * The tools a step asked for. Another step follows (true) only when the model asked for
 * tools and the budget of steps allows; a call of the client's own tools ends the turn
 * (the client runs it, then asks again).
 */
async function runTools(turn: TurnContext, begun: BegunTurn, answer: Answer, buffer: TextBuffer, step: Step): Promise<boolean> {
  const { deps, agent, input, sink } = turn;
  const { config } = agent;
  const forClient = (c: ToolCall) => input.clientTools?.some((t) => t.name === c.name) === true;
  const clientCalls = step.calls.filter(forClient);
  if (answer.error || turn.signal.aborted || !begun.specs || !step.calls.length || (answer.step + 1 >= config.max_steps && !clientCalls.length)) return false;
  buffer.flush();
  const at = answer.step;
  for (const c of step.calls)
    sink.emit({
      chunk_type: 'tool_call',
      step_id: at,
      call_id: c.id,
      name: c.name,
      arguments: c.arguments,
      ...(forClient(c) ? { client: true as const } : {}),
    });
  const serverCalls = step.calls.filter((c) => !forClient(c));
  const who = { orgId: input.orgId, agentId: agent.id, userId: begun.userId };
  const results = await Promise.all(
    serverCalls.map((c) =>
      deps.working && callWorkingTool.handles(config, c)
        ? callWorkingTool(deps.working, config, c, { ...who, sessionId: begun.exchange.sessionId }, sink)
        : callTool(config.tools, c, { ...who, signal: turn.signal, memories: deps.memories, dispatcher: deps.dispatcher, mcp: begun.mcp }),
    ),
  );
  if (turn.signal.aborted) return false;
  begun.messages.push({ role: 'assistant', content: step.text || null, tool_calls: serverCalls });
  serverCalls.forEach((c, i) => {
    const r = results[i]!;
    sink.emit({ chunk_type: 'tool_result', step_id: at, call_id: c.id, name: c.name, ...r });
    answer.calls.push({ ...c, step: at, ...r });
    begun.messages.push({ role: 'tool', tool_call_id: c.id, content: r.error !== undefined ? `Error: ${r.error}` : (r.output ?? '') });
  });
  if (!clientCalls.length) return true;
  for (const c of clientCalls) answer.calls.push({ ...c, step: at, duration_ms: 0, client: true });
  answer.finishReason = 'tool_calls';
  return false;
}

const stripUndefined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

function addUsage(a: Usage | null, b: Usage | null): Usage | null {
  if (!a || !b) return a ?? b;
  return {
    prompt_tokens: a.prompt_tokens + b.prompt_tokens,
    completion_tokens: a.completion_tokens + b.completion_tokens,
    total_tokens: a.total_tokens + b.total_tokens,
    cached_prompt_tokens: a.cached_prompt_tokens + b.cached_prompt_tokens,
  };
}

function toRunError(err: unknown): TurnError {
  if (err instanceof TurnStop) return err.toInfo();
  if (err instanceof UpstreamError) return { code: err.code, message: err.message, retryable: err.retryable };
  return { code: 'internal_error', message: 'The run failed unexpectedly.', retryable: false };
}
