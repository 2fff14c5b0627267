// With an OpenTelemetry SDK registered, every chat leaves a span per stage under one
// request span; without one, agentmem registers none of its own and records nothing.
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

test('no SDK registered: agentmem registers no tracer provider of its own, and the chat works', async () => {
  const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'dark' } })).body;
  const r = await streamChat(s, agent.id, { message: 'hi' });
  assert.equal(r.events.at(-1).chunk_type, 'done');
  // After a whole chat (server start, the request, the stages): the global tracer is still
  // the API's no-op, so recordSpans stopped at isRecording() and made no child span.
  const probe = trace.getTracer('agentmem-test').startSpan('probe');
  assert.equal(probe.isRecording(), false, 'a tracer provider was registered by agentmem itself');
  probe.end();
});

test('with an SDK: a request span and one child span per stage, timed like the done event', async () => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'traced' } })).body;
  const r = await streamChat(s, agent.id, { message: 'hi', user_id: 'u' });
  const done = r.events.at(-1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.filter((x) => x.name === 'agentmem.chat').length, 1, 'one request span: the chat before the SDK left none');
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
