import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from './metrics.ts';
import { createTimings, type TimingsJSON } from './timings.ts';

test('timings become stage histogram series, skipped stages a counter', async () => {
  const m = createMetrics();
  const json: TimingsJSON = { auth: 0.05, recall: 150, total: 1800.5, skipped: { recall: 'budget' } };
  m.observeTimings(json, { route: 'chat_stream', provider: 'simulated', model: 'sim-fast' });
  const text = await m.text();
  assert.match(text, /# TYPE agentmem_stage_duration_seconds histogram/);
  assert.match(text, /agentmem_stage_duration_seconds_count\{stage="auth",route="chat_stream"\} 1/);
  assert.match(text, /agentmem_stage_duration_seconds_sum\{stage="total",route="chat_stream"\} 1\.8005/);
  // 0.05 ms lands in the first (0.1 ms) bucket
  assert.match(text, /agentmem_stage_duration_seconds_bucket\{le="0\.0001",stage="auth",route="chat_stream"\} 1/);
  assert.match(text, /agentmem_stage_duration_seconds_bucket\{le="60",stage="total",route="chat_stream"\} 1/);
  assert.match(text, /agentmem_stage_skipped_total\{stage="recall",reason="budget"\} 1/);
  assert.doesNotMatch(text, /stage="history"/);
});

test('first token histogram and request counter', async () => {
  const m = createMetrics();
  m.observeFirstToken('zhipu', 'glm-4-flash', 1500);
  m.countRequest('chat_stream', 'ok');
  m.countRequest('chat_stream', 'ok');
  m.httpRequests.inc({ route: 'chat_ws', outcome: 'aborted' });
  const text = await m.text();
  assert.match(text, /agentmem_upstream_first_token_seconds_sum\{provider="zhipu",model="glm-4-flash"\} 1\.5/);
  assert.match(text, /agentmem_upstream_first_token_seconds_bucket\{le="1\.5",provider="zhipu",model="glm-4-flash"\} 1/);
  assert.match(text, /agentmem_upstream_first_token_seconds_bucket\{le="1",provider="zhipu",model="glm-4-flash"\} 0/);
  assert.match(text, /agentmem_chat_requests_total\{route="chat_stream",outcome="ok"\} 2/);
  assert.match(text, /agentmem_chat_requests_total\{route="chat_ws",outcome="aborted"\} 1/);
});

test('default process metrics are in the same registry; content type is Prometheus text', async () => {
  const m = createMetrics();
  const text = await m.text();
  assert.match(text, /process_cpu_user_seconds_total/);
  assert.match(text, /nodejs_eventloop_lag_seconds/);
  assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);
});

test('several registries in one process do not clash', async () => {
  const a = createMetrics();
  const b = createMetrics();
  a.countRequest('chat', 'error');
  const [ta, tb] = await Promise.all([a.text(), b.text()]);
  assert.match(ta, /agentmem_chat_requests_total\{route="chat",outcome="error"\} 1/);
  assert.doesNotMatch(tb, /outcome="error"/);
});

test('a live Timings object feeds straight in', async () => {
  const m = createMetrics();
  const t = createTimings();
  t.mark('agent');
  t.mark('total');
  m.observeTimings(t.toJSON(), { route: 'chat', provider: 'simulated', model: 'sim' });
  const text = await m.text();
  assert.match(text, /agentmem_stage_duration_seconds_count\{stage="agent",route="chat"\} 1/);
  assert.match(text, /agentmem_stage_duration_seconds_count\{stage="total",route="chat"\} 1/);
});

test('upstream connections are read at scrape time', async () => {
  const m = createMetrics();
  let state = { open: 3, idle: 1 };
  m.trackConnections('agentmem_upstream_connections', () => state);
  assert.match(await m.text(), /agentmem_upstream_connections\{state="open"\} 3\n/);
  state = { open: 0, idle: 0 };
  assert.match(await m.text(), /agentmem_upstream_connections\{state="idle"\} 0\n/);
});

test('the model label is bounded: 10,000 unknown names are one series, "other"; known names, dated snapshots and operator names keep theirs', async () => {
  const m = createMetrics({ knownModels: ['house-model', 'x'.repeat(500)] });
  for (let i = 0; i < 10_000; i++) m.observeFirstToken('openai-compatible', `tenant-${i}-${'y'.repeat(i % 50)}`, 10);
  m.observeFirstToken('openai-compatible', 'gpt-4o-2024-08-06', 10);
  m.observeFirstToken('openai-compatible', 'house-model', 10);
  m.observeFirstToken('openai-compatible', 'x'.repeat(500), 10); // an operator name too long to be a label
  const text = await m.text();
  const labels = [...text.matchAll(/^agentmem_upstream_first_token_seconds_count\{provider="openai-compatible",model="([^"]*)"\} (\d+)$/gm)].map((x) => [
    x[1],
    Number(x[2]),
  ]);
  assert.deepEqual(labels.sort(), [
    ['gpt-4o', 1],
    ['house-model', 1],
    ['other', 10_001],
  ]);
  assert.doesNotMatch(text, /tenant-/);
});

test('prompt tokens by cache use take the same bounded model label', async () => {
  const m = createMetrics();
  for (let i = 0; i < 1_000; i++) m.countPromptTokens('openai-compatible', `tenant-${i}`, { prompt_tokens: 10, cached_prompt_tokens: 4 });
  m.countPromptTokens('openai-compatible', 'gpt-4o', { prompt_tokens: 2_000, cached_prompt_tokens: 1_920 });
  const text = await m.text();
  assert.doesNotMatch(text, /tenant-/);
  assert.match(text, /^agentmem_prompt_tokens_total\{provider="openai-compatible",model="other",cache="cached"\} 4000$/m);
  assert.match(text, /^agentmem_prompt_tokens_total\{provider="openai-compatible",model="other",cache="uncached"\} 6000$/m);
  assert.match(text, /^agentmem_prompt_tokens_total\{provider="openai-compatible",model="gpt-4o",cache="cached"\} 1920$/m);
  assert.match(text, /^agentmem_prompt_tokens_total\{provider="openai-compatible",model="gpt-4o",cache="uncached"\} 80$/m);
});
