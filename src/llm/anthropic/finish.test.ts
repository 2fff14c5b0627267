import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anthropicCode, mapStopReason, toUsage } from './finish.ts';

test('stop reasons: unified beside raw', () => {
  assert.deepEqual(mapStopReason('end_turn'), { unified: 'stop', raw: 'end_turn' });
  assert.deepEqual(mapStopReason('stop_sequence'), { unified: 'stop', raw: 'stop_sequence' });
  assert.deepEqual(mapStopReason('max_tokens'), { unified: 'length', raw: 'max_tokens' });
  assert.deepEqual(mapStopReason('tool_use'), { unified: 'tool_calls', raw: 'tool_use' });
  assert.deepEqual(mapStopReason('refusal'), { unified: 'content_filter', raw: 'refusal' });
  assert.deepEqual(mapStopReason('pause_turn'), { unified: 'other', raw: 'pause_turn' });
  assert.deepEqual(mapStopReason(null), { unified: 'other', raw: null });
});

test('usage: the prompt is input + cache read + cache write; cached is the read', () => {
  assert.deepEqual(toUsage({ input_tokens: 21, cache_creation_input_tokens: 188, cache_read_input_tokens: 1800, output_tokens: 393 }), {
    prompt_tokens: 2009,
    completion_tokens: 393,
    total_tokens: 2402,
    cached_prompt_tokens: 1800,
  });
  assert.deepEqual(toUsage({ input_tokens: 12, output_tokens: 1 }), { prompt_tokens: 12, completion_tokens: 1, total_tokens: 13, cached_prompt_tokens: 0 });
});

test('error types map to codes a caller can act on', () => {
  assert.equal(anthropicCode('overloaded_error'), 'upstream_unavailable');
  assert.equal(anthropicCode('rate_limit_error'), 'upstream_rate_limited');
  assert.equal(anthropicCode('authentication_error'), 'upstream_auth');
  assert.equal(anthropicCode('something_new'), undefined);
});
