// The native chat stream's events (the `data:` of each SSE frame, and each WebSocket message),
// as the server's one event union (src/agent/events.ts) defines them. SSE is outside the
// OpenAPI document, so this is written by hand; test/client.test.ts checks at compile time
// that the server's union and this one agree.

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'error' | 'other';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** of prompt_tokens, those the provider's prompt cache served */
  cached_prompt_tokens: number;
}

export type Stage =
  | 'auth'
  | 'route'
  | 'agent'
  | 'history'
  | 'recall'
  | 'recall_embed'
  | 'recall_search'
  | 'connect'
  | 'prompt'
  | 'upstream_ttfb'
  | 'first_reasoning'
  | 'first_byte'
  | 'buffer'
  | 'total';

/** Milliseconds per stage; `skipped`: stages that did not run, and why; `critical_path` once the first byte went out. */
export type Timings = Partial<Record<Stage, number>> & {
  skipped?: Partial<Record<Stage, string>>;
  critical_path?: Array<[Stage, number]>;
};

export type ChatEvent =
  | { chunk_type: 'start'; session_id: string; message_id: string; user_message_id: string; agent_id: string }
  | { chunk_type: 'content'; content: string; step_id: number }
  /** a reasoning model's thinking, streamed before (or between) its answer */
  | { chunk_type: 'reasoning'; content: string; step_id: number }
  | { chunk_type: 'tool_call'; step_id: number; call_id: string; name: string; arguments: string; client?: true }
  | { chunk_type: 'tool_result'; step_id: number; call_id: string; name: string; output?: string; error?: string; duration_ms: number }
  /** a memory written by extraction, or working memory rewritten by its tool (WORKING) */
  | { chunk_type: 'memory_update'; event: 'ADD' | 'UPDATE' | 'DELETE' | 'DUPLICATE' | 'WORKING'; memory_id: string; content: string | null }
  | { chunk_type: 'metadata'; timings: Timings; recalled: Array<{ id: string; content: string; score: number }>; model: string; provider: string }
  | {
      chunk_type: 'done';
      session_id: string;
      message_id: string;
      finish_reason: FinishReason;
      usage: Usage | null;
      timings: Timings;
      model: string;
      fallback?: boolean;
    }
  /** the turn failed once streaming (`retry_after`: seconds, on a rate limit) */
  | { chunk_type: 'error'; code: string; message: string; retryable: boolean; message_id?: string; retry_after?: number };

export type ChunkType = ChatEvent['chunk_type'];
