// The one provider spec every model backend implements. Providers turn a wire
// format into these parts; everything above llm/ sees only this file's types.

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface ToolCall {
  id: string;
  name: string;
  /** JSON text exactly as the model produced it (may be invalid JSON). */
  arguments: string;
}

export interface ChatMessage {
  role: Role;
  content: string | null;
  tool_calls?: ToolCall[];
  /** for role 'tool': the call this message answers */
  tool_call_id?: string;
}

export interface ToolSpec {
  name: string;
  description?: string;
  /** JSON Schema of the arguments object */
  parameters: Record<string, unknown>;
  /** OpenAI's strict schema adherence, passed on as the client gave it */
  strict?: boolean;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** of prompt_tokens, those the provider's prompt cache served (OpenAI and Zhipu
   *  `prompt_tokens_details.cached_tokens`, DeepSeek `prompt_cache_hit_tokens`); 0 when none or not reported */
  cached_prompt_tokens: number;
}

/** Unified finish reason, with the provider's raw string kept beside it. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'error' | 'other';

export interface LlmRequest {
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  max_tokens?: number;
  top_p?: number;
  stop?: string | string[];
  seed?: number;
  tools?: ToolSpec[];
  /**
   * Indexes into `messages` of the last message of each part of the prompt that stays the
   * same from turn to turn (agent/prompt.ts: the system message, the history): where a
   * provider with explicit cache breakpoints (Anthropic's `cache_control`) puts them.
   */
  cache_breakpoints?: number[];
  /** reasoning models: turn thinking on or off where the provider has a switch (background calls ask 'disabled') */
  thinking?: 'enabled' | 'disabled';
  /** fired when the client leaves; aborts the upstream request at once */
  signal?: AbortSignal;
}

export type StreamPart =
  | { type: 'text-delta'; text: string }
  /** the model's thinking before (or between) its answer: shown, stored, never sent back upstream */
  | { type: 'reasoning-delta'; text: string }
  /** a complete tool call, emitted once its argument deltas are assembled */
  | { type: 'tool-call'; call: ToolCall }
  /** `model`: set when a fallback decides which model served (see fallback.ts) */
  | { type: 'finish'; finish_reason: FinishReason; raw_finish_reason: string | null; usage: Usage | null; model?: string }
  | { type: 'error'; error: UpstreamErrorInfo };

export interface UpstreamErrorInfo {
  /** stable agentmem code, e.g. upstream_auth, upstream_rate_limited, upstream_unavailable,
   *  upstream_timeout, upstream_protocol, upstream_content_filter, upstream_network */
  code: string;
  message: string;
  retryable: boolean;
  status?: number;
  /** the provider's own code, e.g. Zhipu's "1302" */
  provider_code?: string;
}

export interface Completion {
  text: string;
  /** what a reasoning model thought, apart from the answer ('' for others) */
  reasoning: string;
  tool_calls: ToolCall[];
  finish_reason: FinishReason;
  raw_finish_reason: string | null;
  usage: Usage | null;
}

export interface Provider {
  readonly name: string;
  /** Stream parts. Errors before the first part throw UpstreamError (so the caller may retry);
   *  errors after it arrive as an 'error' part, then the iterator ends. */
  stream(req: LlmRequest): AsyncIterable<StreamPart>;
  complete(req: LlmRequest): Promise<Completion>;
  /** open a keep-alive connection to the upstream origin ahead of the first request */
  warm?(): Promise<void>;
}

export interface ProviderConfig {
  provider: 'simulated' | 'openai-compatible' | 'zhipu' | 'anthropic';
  model: string;
  base_url?: string;
  api_key?: string;
  auth?: 'bearer' | 'jwt';
  temperature?: number;
  max_tokens?: number;
  /** the agent's llm.thinking: the switch is sent only where it is set (or the provider always has one) */
  thinking?: 'enabled' | 'disabled';
  /** no token after this long: abort, and retry if attempts remain */
  first_token_timeout_ms?: number;
  /** retries for failures before the first token */
  max_retries?: number;
  /** a second model raced in when the first sends no token after `after_ms` */
  fallback?: Omit<ProviderConfig, 'fallback'> & { after_ms: number };
  /** simulated provider only */
  simulated?: { first_token_ms?: number; tokens_per_s?: number };
}
