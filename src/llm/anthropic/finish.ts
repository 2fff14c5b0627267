// Anthropic's stop reasons and usage, in our terms. Kept as tiny helpers beside their
// test: the raw reason travels next to the unified one (`raw_finish_reason`), and the
// usage keeps what the prefix cache served apart.
import type { UpstreamCode } from '../errors.ts';
import type { FinishReason, Usage } from '../types.ts';

/** A stop reason as our finish reason, the provider's own string kept beside it. */
export function mapStopReason(raw: string | null | undefined): { unified: FinishReason; raw: string | null } {
  switch (raw) {
    case 'end_turn':
    case 'stop_sequence':
      return { unified: 'stop', raw };
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return { unified: 'length', raw };
    case 'tool_use':
      return { unified: 'tool_calls', raw };
    case 'refusal':
      return { unified: 'content_filter', raw };
    case null:
    case undefined:
      return { unified: 'other', raw: null };
    default:
      // pause_turn (a server tool's long turn) and whatever comes next
      return { unified: 'other', raw };
  }
}

/** Anthropic's usage fields (from `message_start`, updated by `message_delta`). */
export interface AnthropicUsage {
  input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  output_tokens?: number | null;
}

/**
 * Our Usage: Anthropic's `input_tokens` counts only what follows the last cache
 * breakpoint, so the prompt is all three input fields together; `cached_prompt_tokens` is what
 * the cache served (read). Cache writes are billed above the base rate but are prompt tokens all the same.
 */
export function toUsage(u: AnthropicUsage): Usage {
  const n = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
  const cached = n(u.cache_read_input_tokens);
  const prompt = n(u.input_tokens) + cached + n(u.cache_creation_input_tokens);
  const completion = n(u.output_tokens);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, cached_prompt_tokens: cached };
}

/** Anthropic's error types (`{type: "error", error: {type, message}}`) as our codes. */
const byType: Record<string, UpstreamCode> = {
  authentication_error: 'upstream_auth',
  permission_error: 'upstream_auth',
  invalid_request_error: 'upstream_bad_request',
  not_found_error: 'upstream_bad_request',
  request_too_large: 'upstream_bad_request',
  billing_error: 'upstream_quota',
  rate_limit_error: 'upstream_rate_limited',
  api_error: 'upstream_unavailable',
  overloaded_error: 'upstream_unavailable',
  timeout_error: 'upstream_timeout',
};

export const anthropicCode = (type: unknown): UpstreamCode | undefined => (typeof type === 'string' ? byType[type] : undefined);
