// Finishing a turn: the answer stored as it ended (complete, or incomplete with why), then
// the last events: an error, or memory extraction queued (its updates, when asked for) and done.
import { stopOf } from './stop.ts';
import type { BegunTurn } from './turn-begin.ts';
import type { TurnContext } from './turn-context.ts';
import type { TurnError } from './turn-errors.ts';
import type { Answer } from './turn-steps.ts';
import type { RunResult } from './turn-types.ts';

const STORE_FAILED: TurnError = {
  code: 'storage_unavailable',
  message: 'The conversation could not be stored (the store is unavailable); a stored answer is retried until it is written.',
  retryable: true,
};

export async function finishTurn(turn: TurnContext, begun: BegunTurn, answer: Answer): Promise<RunResult> {
  const { deps, agent, sink, timings } = turn;
  const { exchange } = begun;
  // Stopped by the server (shutting down, a stalled client): an error, not a client leaving.
  const stop = stopOf(turn.request);
  let error: TurnError | undefined = stop ?? answer.error;
  const aborted = turn.request.aborted && !stop;
  const complete = !error && !aborted && !turn.storeFailed;
  const stored = await deps.history
    .finish(exchange, {
      content: answer.text,
      status: complete ? 'complete' : 'incomplete',
      finish_reason: complete ? answer.finishReason : aborted ? 'aborted' : 'error',
      usage: answer.usage,
      timings: timings.toJSON(),
      error: error ? { code: error.code, message: error.message } : aborted ? { code: 'client_aborted', message: 'The client went away.' } : null,
      tool_calls: answer.calls.length ? answer.calls : null,
      reasoning: answer.reasoning || null,
    })
    .then(
      () => true,
      () => false,
    );
  if (!stored && !aborted) error = { ...STORE_FAILED };

  if (error) {
    sink.emit({ chunk_type: 'error', code: error.code, message: error.message, retryable: error.retryable, message_id: exchange.assistantMessageId });
  } else if (!aborted) {
    const wait = agent.config.streaming.emit_memory_updates;
    const updates = deps.afterTurn?.(agent, exchange, answer.text, wait);
    // Without a listener the extraction still runs; its failure is the job queue's to retry.
    updates?.catch(() => {});
    if (updates && wait) for (const u of await updates.catch(() => [])) sink.emit({ chunk_type: 'memory_update', ...u });
    sink.emit({
      chunk_type: 'done',
      session_id: exchange.sessionId,
      message_id: exchange.assistantMessageId,
      finish_reason: answer.finishReason ?? 'stop',
      usage: answer.usage,
      timings: timings.toJSON(),
      model: answer.model,
      ...(answer.model !== agent.model ? { fallback: true } : {}),
    });
  }
  const { text: content, reasoning, finishReason, usage, model } = answer;
  return { sessionId: exchange.sessionId, messageId: exchange.assistantMessageId, content, reasoning, finishReason, usage, error, aborted, model };
}
