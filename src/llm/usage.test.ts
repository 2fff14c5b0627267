// Cached prompt tokens as each provider reports them, into one Usage.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toUsage } from './chat-completions.ts';

test('usage: OpenAI and Zhipu prompt_tokens_details.cached_tokens, DeepSeek prompt_cache_hit_tokens, none', () => {
  const base = { prompt_tokens: 2000, completion_tokens: 10, total_tokens: 2010 };
  assert.deepEqual(toUsage({ ...base, prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 } }), { ...base, cached_prompt_tokens: 1920 });
  assert.deepEqual(toUsage({ ...base, prompt_cache_hit_tokens: 1984, prompt_cache_miss_tokens: 16 }), { ...base, cached_prompt_tokens: 1984 });
  assert.deepEqual(toUsage(base), { ...base, cached_prompt_tokens: 0 });
  assert.equal(toUsage({ ...base, prompt_tokens_details: { cached_tokens: 'x' } }).cached_prompt_tokens, 0, 'junk is none');
  assert.equal(toUsage({ ...base, prompt_tokens_details: { cached_tokens: 5000 } }).cached_prompt_tokens, 2000, 'never more than the prompt');
});
