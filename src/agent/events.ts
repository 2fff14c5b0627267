// The one union of events a chat run produces. Every wire format (native SSE,
// WebSocket, OpenAI chunks, AI SDK UI stream, the JSON answer) is a transform of it.
import type { FinishReason, Usage } from '../llm/types.ts';
import type { TimingsJSON } from '../trace/timings.ts';
import type { TurnErrorCode } from './turn-errors.ts';

export type AgentEvent =
  | { chunk_type: 'start'; session_id: string; message_id: string; user_message_id: string; agent_id: string }
  | { chunk_type: 'content'; content: string; step_id: number }
  /** a reasoning model's thinking, streamed before (or between) its answer */
  | { chunk_type: 'reasoning'; content: string; step_id: number }
  /** `client`: a tool the caller declared and runs itself (OpenAI-compatible route); the turn ends with it */
  | { chunk_type: 'tool_call'; step_id: number; call_id: string; name: string; arguments: string; client?: true }
  | { chunk_type: 'tool_result'; step_id: number; call_id: string; name: string; output?: string; error?: string; duration_ms: number }
  /** a memory written by extraction (ADD/UPDATE/DELETE), or working memory rewritten by its tool (WORKING, memory_id `working:user:<id>` or `working:session:<id>`) */
  | { chunk_type: 'memory_update'; event: 'ADD' | 'UPDATE' | 'DELETE' | 'DUPLICATE' | 'WORKING'; memory_id: string; content: string | null }
  | { chunk_type: 'metadata'; timings: TimingsJSON; recalled: Array<{ id: string; content: string; score: number }>; model: string; provider: string }
  | {
      chunk_type: 'done';
      session_id: string;
      message_id: string;
      finish_reason: FinishReason;
      usage: Usage | null;
      timings: TimingsJSON;
      /** the model that served the answer */
      model: string;
      /** true when the fallback model answered (the primary was too slow or failed) */
      fallback?: boolean;
    }
  | ErrorEvent;

/**
 * How a turn ended in error (`code`: turn-errors.ts). A surface sends its own refusals in the
 * same shape with the server's codes (a WebSocket's bad message: ErrorEvent<ErrorCode>).
 * `retry_after`: seconds to wait before trying again (a rate limit).
 */
export interface ErrorEvent<Code extends string = TurnErrorCode> {
  chunk_type: 'error';
  code: Code;
  message: string;
  retryable: boolean;
  message_id?: string;
  retry_after?: number;
}

/** Where a run delivers its events: an encoder writing to a socket, or a collector. */
export interface EventSink {
  emit(event: AgentEvent): void;
  /**
   * Backpressure: undefined while the client keeps up; otherwise a promise that settles once
   * it has read what waits for it (the run does not read the model meanwhile), or rejects
   * with a TurnStop when it stalled too long.
   */
  ready?(): Promise<void> | undefined;
}
