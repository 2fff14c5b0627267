// With an OpenTelemetry SDK registered, every chat leaves a span per stage under one
// request span; without one, nothing is recorded.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { engines, startServer, streamChat, type TestServer } from './harness.ts';

let s: TestServer;
const exporter = new InMemorySpanExporter();
before(async () => {
  s = await startServer(engines[0]!);
});
after(async () => {
  trace.disable();
  await s?.close();
});

test('no SDK registered: no spans, the chat works', async () => {
  const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'dark' } })).body;
  const r = await streamChat(s, agent.id, { message: 'hi' });
  assert.equal(r.events.at(-1).chunk_type, 'done');
  assert.equal(exporter.getFinishedSpans().length, 0);
});

test('with an SDK: a request span and one child span per stage, timed like the done event', async () => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'traced' } })).body;
  const r = await streamChat(s, agent.id, { message: 'hi', user_id: 'u' });
  const done = r.events.at(-1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const spans = exporter.getFinishedSpans();
  const root = spans.find((x) => x.name === 'agentmem.chat')!;
  assert.ok(root, spans.map((x) => x.name).join());
  assert.equal(root.attributes['agentmem.agent_id'], agent.id);
  assert.equal(root.attributes['agentmem.outcome'], 'ok');
  const children = spans.filter((x) => x.parentSpanContext?.spanId === root.spanContext().spanId);
  const names = children.map((x) => x.name.replace('agentmem.', ''));
  for (const stage of Object.keys(done.timings).filter((k) => k !== 'skipped' && k !== 'critical_path')) assert.ok(names.includes(stage), `span for ${stage}`);
  const ms = (x: (typeof spans)[number]) => x.duration[0] * 1e3 + x.duration[1] / 1e6;
  const total = children.find((x) => x.name === 'agentmem.total')!;
  assert.ok(Math.abs(ms(total) - done.timings.total) < 0.01, `${ms(total)} vs ${done.timings.total}`);
});
