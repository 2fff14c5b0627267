// The turn in process: runChat with its real dependencies (the store on PGlite in memory,
// the history, working memory) and one stand-in, the model: a scripted provider that
// answers each step from a list. Fast beside the socket tests (test/chat.test.ts, …),
// which run the same turn through the server.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent as Dispatcher } from 'undici';
import type { LlmRequest, Provider, StreamPart, ToolSpec } from '../llm/types.ts';
import { createHistory } from '../memory/history.ts';
import { createWorkingMemory } from '../memory/working-memory.ts';
import type { Db } from '../store/db.ts';
import { openStore } from '../store/open.ts';
import { insertAgent } from '../store/repos/agents.ts';
import { createOrganization } from '../store/repos/organizations.ts';
import { createTimings } from '../trace/timings.ts';
import type { ReadyAgent } from './cache.ts';
import { agentConfig } from './config.ts';
import type { AgentEvent } from './events.ts';
import { runChat } from './run.ts';
import { shuttingDown } from './stop.ts';
import type { ChatInput, RunDeps } from './turn-types.ts';

/** One model call: the parts it streams, or a generator of them (which may wait). */
type Step = StreamPart[] | ((req: LlmRequest) => AsyncGenerator<StreamPart>);

/** The model, scripted: step n of the turn streams `steps[n]`; every request is kept. */
function scripted(steps: Step[]): Provider & { requests: LlmRequest[] } {
  const requests: LlmRequest[] = [];
  return {
    name: 'scripted',
    requests,
    async *stream(req) {
      const step = steps[requests.length] ?? steps.at(-1)!;
      requests.push(structuredClone({ ...req, signal: undefined }));
      if (typeof step === 'function') yield* step(req);
      else yield* step;
    },
    complete: () => Promise.reject(new Error('not scripted')),
  };
}

const usage = { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12, cached_prompt_tokens: 0 };
const finish = (finish_reason: 'stop' | 'tool_calls' = 'stop'): StreamPart => ({ type: 'finish', finish_reason, raw_finish_reason: finish_reason, usage });
const text = (t: string): StreamPart => ({ type: 'text-delta', text: t });
const call = (id: string, name: string, args: object): StreamPart => ({ type: 'tool-call', call: { id, name, arguments: JSON.stringify(args) } });

/** A sink that keeps the events, and tells when one of a kind arrives. */
function collector() {
  const events: AgentEvent[] = [];
  const waiting: Array<{ type: string; resolve(): void }> = [];
  return {
    events,
    types: () => events.map((e) => e.chunk_type),
    emit(e: AgentEvent) {
      events.push(e);
      for (const w of waiting.filter((w) => w.type === e.chunk_type)) w.resolve();
    },
    next(type: AgentEvent['chunk_type']): Promise<void> {
      return new Promise((resolve) => waiting.push({ type, resolve }));
    },
  };
}

/** Resolves when released, or when the request's signal fires (as a provider's read stops). */
function held(req: LlmRequest): { wait: Promise<void>; release(): void } {
  let release = () => {};
  const wait = new Promise<void>((resolve, reject) => {
    release = resolve;
    req.signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
  });
  return { wait, release: () => release() };
}

describe('runChat, in process (PGlite in memory, a scripted model)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentmem-run-'));
  let db: Db;
  let deps: RunDeps;
  let orgId: string;
  let agentId: string;
  const dispatcher = new Dispatcher();

  before(async () => {
    db = await openStore('memory://', dir);
    orgId = (await createOrganization(db, 'run-test')).id;
    agentId = (await insertAgent(db, orgId, { name: 'run', description: null, config: {}, secrets: null, metadata: {} })).id;
    deps = { history: createHistory(db), working: createWorkingMemory(db), dispatcher };
  });
  after(async () => {
    await deps.history.close();
    await dispatcher.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const agentWith = (provider: Provider, config: object = {}, id = agentId): ReadyAgent => ({
    id,
    org_id: orgId,
    name: 'run',
    version: 1,
    config: agentConfig.parse(config),
    provider,
    providerName: 'scripted',
    model: 'scripted-1',
  });

  function turn(agent: ReadyAgent, input: Partial<ChatInput> = {}, signal = new AbortController().signal) {
    const sink = collector();
    const result = runChat(deps, agent, { orgId, message: 'hi', ...input }, sink, signal, createTimings());
    return { sink, result };
  }

  const stored = (sessionId: string) =>
    db.query<{ role: string; content: string; status: string; finish_reason: string | null; error: { code: string } | null; tool_calls: unknown }>(
      `select role, content, status, finish_reason, error, tool_calls from messages where session_id = $1 order by seq`,
      [sessionId],
    );

  test('a turn: start, the deltas in order, done; the exchange stored, and the next turn sends it back', async () => {
    const model = scripted([[text('Hel'), text('lo'), finish()]]);
    const agent = agentWith(model);
    const { sink, result } = turn(agent);
    const r = await result;
    assert.deepEqual(sink.types(), ['start', 'content', 'content', 'done']);
    assert.equal(r.content, 'Hello');
    assert.equal(r.finishReason, 'stop');
    assert.equal(r.error, undefined);
    const done = sink.events.at(-1)!;
    assert.ok(done.chunk_type === 'done' && done.message_id === r.messageId && done.session_id === r.sessionId);
    const rows = await stored(r.sessionId);
    assert.deepEqual(
      rows.map((m) => [m.role, m.content, m.status]),
      [
        ['user', 'hi', 'complete'],
        ['assistant', 'Hello', 'complete'],
      ],
    );

    await turn(agent, { sessionId: r.sessionId, message: 'again' }).result;
    const sent = model.requests[1]!.messages.filter((m) => m.role !== 'system').map((m) => [m.role, m.content]);
    assert.deepEqual(sent.slice(0, 2), [
      ['user', 'hi'],
      ['assistant', 'Hello'],
    ]);
    assert.equal(sent.at(-1)![0], 'user');
    assert.match(String(sent.at(-1)![1]), /again/);
  });

  test('the tool loop: a call runs, its result goes back to the model, the next step answers', async () => {
    const model = scripted([
      [call('c1', 'working_memory_update', { content: 'likes tea' }), finish('tool_calls')],
      [text('Noted.'), finish()],
    ]);
    const agent = agentWith(model, { memory: { working: { enabled: true } } });
    const { sink, result } = turn(agent, { userId: 'u1' });
    const r = await result;
    assert.deepEqual(sink.types(), ['start', 'tool_call', 'memory_update', 'tool_result', 'content', 'done']);
    assert.equal(r.content, 'Noted.');
    assert.equal(model.requests.length, 2);
    const [assistant, tool] = model.requests[1]!.messages.slice(-2);
    assert.deepEqual(
      assistant!.tool_calls?.map((c) => c.name),
      ['working_memory_update'],
    );
    assert.deepEqual([tool!.role, tool!.tool_call_id, tool!.content], ['tool', 'c1', 'Working memory updated.']);
    const [answer] = (await stored(r.sessionId)).filter((m) => m.role === 'assistant');
    assert.deepEqual(
      (answer!.tool_calls as Array<{ name: string; step: number }>).map((c) => [c.name, c.step]),
      [['working_memory_update', 0]],
    );
  });

  test('max_steps: a model that keeps asking for tools is asked max_steps times, no more', async () => {
    const model = scripted([[call('c', 'working_memory_update', { content: 'again' }), finish('tool_calls')]]);
    const { sink, result } = turn(agentWith(model, { max_steps: 2, memory: { working: { enabled: true } } }), { userId: 'u2' });
    const r = await result;
    assert.equal(model.requests.length, 2);
    // the first step's call ran; the last step's was not (no step follows to read its result)
    assert.equal(sink.events.filter((e) => e.chunk_type === 'tool_result').length, 1);
    assert.equal(sink.types().at(-1), 'done');
    assert.equal(r.finishReason, 'tool_calls');
  });

  test("a client's own tool: its call ends the turn, left to the client to run", async () => {
    const weather: ToolSpec = { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } };
    const model = scripted([[call('w1', 'get_weather', { city: 'Oslo' }), finish('tool_calls')]]);
    const { sink, result } = turn(agentWith(model), { clientTools: [weather] });
    const r = await result;
    assert.equal(model.requests.length, 1);
    assert.deepEqual(
      model.requests[0]!.tools?.map((t) => t.name),
      ['get_weather'],
    );
    assert.deepEqual(sink.types(), ['start', 'tool_call', 'done']);
    const tc = sink.events[1]!;
    assert.ok(tc.chunk_type === 'tool_call' && tc.client === true && tc.call_id === 'w1');
    assert.equal(r.finishReason, 'tool_calls');
    const [answer] = (await stored(r.sessionId)).filter((m) => m.role === 'assistant');
    assert.deepEqual(answer!.tool_calls, [{ id: 'w1', name: 'get_weather', arguments: '{"city":"Oslo"}', step: 0, duration_ms: 0, client: true }]);
  });

  test("a failed store write: the user's message refused, the turn ends in storage_unavailable, not done", async () => {
    // An agent deleted while its turn runs (the cached copy still answers): the write is refused.
    const { sink, result } = turn(agentWith(scripted([[text('lost'), finish()]]), {}, crypto.randomUUID()));
    const r = await result;
    const last = sink.events.at(-1)!;
    assert.ok(last.chunk_type === 'error', `ended with ${last.chunk_type}`);
    assert.deepEqual([last.code, last.retryable, last.message_id], ['storage_unavailable', true, r.messageId]);
    assert.ok(!sink.types().includes('done'));
    assert.equal(r.error?.code, 'storage_unavailable');
    assert.equal(r.aborted, false);
  });

  test('a server stop mid-answer: shutting_down, the answer kept as said, incomplete', async () => {
    let gate: ReturnType<typeof held> | undefined;
    const model = scripted([
      async function* (req) {
        yield text('partial');
        gate = held(req);
        await gate.wait;
        yield text(' never');
      },
    ]);
    const stop = new AbortController();
    const { sink, result } = turn(agentWith(model), {}, stop.signal);
    await sink.next('content');
    stop.abort(shuttingDown());
    const r = await result;
    const last = sink.events.at(-1)!;
    assert.ok(last.chunk_type === 'error');
    assert.deepEqual([last.code, last.retryable], ['shutting_down', true]);
    assert.deepEqual([r.error?.code, r.aborted, r.content], ['shutting_down', false, 'partial']);
    const [answer] = (await stored(r.sessionId)).filter((m) => m.role === 'assistant');
    assert.deepEqual([answer!.content, answer!.status, answer!.finish_reason, answer!.error?.code], ['partial', 'incomplete', 'error', 'shutting_down']);
  });

  test('the client leaving mid-answer: aborted, no last event, stored incomplete as client_aborted', async () => {
    const model = scripted([
      async function* (req) {
        yield text('half');
        await held(req).wait;
      },
    ]);
    const client = new AbortController();
    const { sink, result } = turn(agentWith(model), {}, client.signal);
    await sink.next('content');
    client.abort();
    const r = await result;
    assert.deepEqual(sink.types(), ['start', 'content']);
    assert.deepEqual([r.aborted, r.error, r.content], [true, undefined, 'half']);
    const [answer] = (await stored(r.sessionId)).filter((m) => m.role === 'assistant');
    assert.deepEqual([answer!.status, answer!.finish_reason, answer!.error?.code], ['incomplete', 'aborted', 'client_aborted']);
  });

  test('timers: the text buffer holds deltas for flush_interval_ms; what was said is checkpointed every second', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    let gate: ReturnType<typeof held> | undefined;
    let parked = () => {};
    const streaming = new Promise<void>((resolve) => (parked = resolve));
    const model = scripted([
      async function* (req) {
        yield text('one, ');
        yield text('two');
        gate = held(req);
        parked();
        await gate.wait;
        yield finish();
      },
    ]);
    const { sink, result } = turn(agentWith(model, { streaming: { text_buffer_size: 100, flush_interval_ms: 50 } }));
    await streaming;
    assert.deepEqual(sink.types(), ['start'], 'held: neither the size nor the hold reached');
    t.mock.timers.tick(50);
    assert.deepEqual(sink.events.at(-1), { chunk_type: 'content', content: 'one, two', step_id: 0 });
    const answerId = (sink.events[0] as Extract<AgentEvent, { chunk_type: 'start' }>).message_id;
    const content = async () => (await db.query<{ content: string }>(`select content from messages where id = $1`, [answerId]))[0]?.content;
    assert.notEqual(await content(), 'one, two');
    t.mock.timers.tick(1_000);
    for (let i = 0; i < 200 && (await content()) !== 'one, two'; i++) await new Promise((r) => setImmediate(r));
    assert.equal(await content(), 'one, two', 'checkpointed while the model still streams');
    gate!.release();
    const r = await result;
    assert.equal(r.content, 'one, two');
    assert.equal(sink.types().at(-1), 'done');
  });
});
