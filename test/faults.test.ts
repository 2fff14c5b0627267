// The upstream fault matrix, through the emulator over real sockets, on both engines:
// every fault the emulator can inject, before the first token and after it, in the
// OpenAI, the Zhipu and the Anthropic wire formats. Whatever happens upstream, the client gets either
// a clear `error` event (code, message, retryable) or — for a retryable failure before
// the first token — a retried, normal answer; and the session's stored messages agree
// with what the client saw. Then 1,000 mixed faulty turns leave no socket, timer or
// memory behind.
//
// Where a fault makes sense (see src/emulator/faults.ts):
//   401, 429, 500, 503, hang_before_first_token   before the first token only (HTTP status / no byte)
//   disconnect_mid, malformed_json, error_event,  after the first token (the emulator cuts after half
//   sensitive, network_error                      the tokens); "before" = an empty answer (`~text=`),
//                                                 so the cut comes before any token
//   split_utf8, drip                              the whole body: not failures, the answer must arrive intact
//   sensitive, network_error                      Zhipu finish reasons; in the OpenAI format `sensitive`
//                                                 is the ordinary finish_reason "content_filter" (a
//                                                 normal, complete answer); network_error is Zhipu only
//   (Anthropic)                                   503 is its 529 overloaded_error; error_event an `error`
//                                                 event overloaded_error (retryable); sensitive the
//                                                 stop_reason "refusal"; network_error an api_error event
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { describe, test } from 'node:test';
import { Agent, fetch as undiciFetch } from 'undici';
import type { Emulator } from '../src/emulator/server.ts';
import { tokenize } from '../src/emulator/tokens.ts';
import { engines, readSse, type ChatEventLike, type SseFrame, type StoredMessage, type TestServer, serverAndEmulator, waitFor } from './harness.ts';
import { optionPath } from '../src/emulator/options.ts';
import { FAULTS, type Fault } from '../src/emulator/faults.ts';
import type { Format } from '../src/emulator/formats.ts';

const TEXT = 'Streams break in the middle: 你好，世界！ emoji 👍🏽 and 🇩🇪 too, then a few more words to cut in half.';
const TOKENS = tokenize(TEXT);
/** what the emulator sends before a mid-stream fault: half the tokens */
const HALF = TOKENS.slice(0, Math.floor(TOKENS.length / 2)).join('');
const TIMEOUT_MS = 300;

type Outcome = { error: string; retryable: boolean } | { done: string };

/** What the client must see for a fault at a point in a format; undefined: does not apply. */
function expected(fault: Fault, format: Format, at: 'before' | 'after'): Outcome | undefined {
  switch (fault) {
    case '401':
      return at === 'before' ? { error: 'upstream_auth', retryable: false } : undefined;
    case '429':
      return at === 'before' ? { error: 'upstream_rate_limited', retryable: true } : undefined;
    case '500':
    case '503':
      return at === 'before' ? { error: 'upstream_unavailable', retryable: true } : undefined;
    case 'hang_before_first_token':
      return at === 'before' ? { error: 'upstream_timeout', retryable: true } : undefined;
    case 'disconnect_mid':
      return { error: 'upstream_network', retryable: true };
    case 'malformed_json':
      return { error: 'upstream_protocol', retryable: false };
    case 'error_event':
      // Zhipu's in-stream error 1234 is its "network error" code
      if (format === 'anthropic') return { error: 'upstream_unavailable', retryable: true };
      return format === 'zhipu' ? { error: 'upstream_network', retryable: true } : { error: 'upstream_error', retryable: false };
    case 'sensitive':
      return format === 'zhipu' ? { error: 'upstream_content_filter', retryable: false } : { done: 'content_filter' };
    case 'network_error':
      if (format === 'anthropic') return { error: 'upstream_unavailable', retryable: true };
      return format === 'zhipu' ? { error: 'upstream_network', retryable: true } : undefined;
    case 'split_utf8':
    case 'drip':
      return at === 'after' ? { done: 'stop' } : undefined;
  }
}

const FORMATS: Format[] = ['openai', 'zhipu', 'anthropic'];
/** faults that cut an answer after some tokens (so "before" means an empty answer) */
const MID: Fault[] = ['disconnect_mid', 'malformed_json', 'error_event', 'sensitive', 'network_error'];

let nonce = 0;

for (const engine of engines) {
  describe(`upstream faults on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));

    /** An agent on the emulator; `~case=` keeps every agent's fail_times count its own. */
    async function agentFor(format: Format, o: Record<string, string | number>, llm: Record<string, unknown> = {}, extra: object = {}) {
      const caseId = `${engine}-${nonce++}`;
      const options = optionPath({ case: caseId, ...o });
      const base = format === 'zhipu' ? `${emu.url}${options}/api/paas/v4` : format === 'anthropic' ? `${emu.url}${options}` : `${emu.url}${options}/v1`;
      const res = await s.api('POST', '/api/v1/agents', {
        body: {
          name: `fault-${format}`,
          llm: {
            provider: format === 'openai' ? 'openai-compatible' : format,
            model: format === 'zhipu' ? 'glm-4-flash' : format === 'anthropic' ? 'claude-sonnet-4-5' : 'gpt-4o-mini',
            base_url: base,
            api_key: 'kid.ksecret',
            // a short deadline only where the upstream hangs: elsewhere a busy test machine must not time out
            ...(o.fault === 'hang_before_first_token' ? { first_token_timeout_ms: TIMEOUT_MS } : {}),
            ...llm,
          },
          ...extra,
        },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return { id: res.body.id as string, caseId };
    }
    const upstreamCalls = (caseId: string) => emu.requests.filter((r) => r.options.case === caseId).length;

    /** Streams one turn and checks the stream's shape: start first, ids 1..n, exactly one terminal event. */
    async function turn(agentId: string, message: string) {
      const res = await fetch(`${s.url}/api/v1/agents/${agentId}/chat/stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message }),
      });
      assert.equal(res.status, 200);
      const frames: SseFrame[] = await readSse(res);
      const events = frames.map((f) => f.data);
      assert.deepEqual(
        frames.map((f) => f.id),
        frames.map((_, i) => String(i + 1)),
        'ids are 1..n, in order',
      );
      assert.equal(events[0].chunk_type, 'start');
      const terminal = events.filter((e) => e.chunk_type === 'done' || e.chunk_type === 'error');
      assert.equal(terminal.length, 1, `exactly one done or error: ${JSON.stringify(events)}`);
      assert.equal(events.at(-1), terminal[0], 'the terminal event is the last');
      const text = events
        .filter((e) => e.chunk_type === 'content')
        .map((e) => e.content)
        .join('');
      return { start: events[0], last: events.at(-1), text };
    }

    /** The stored turn agrees with what the client saw. */
    async function checkStored(start: { session_id: string; message_id: string }, message: string, last: ChatEventLike, text: string) {
      const stored = (await s.api('GET', `/api/v1/sessions/${start.session_id}/messages`)).body.data;
      assert.deepEqual(
        stored.map((m: StoredMessage) => [m.role, m.status]),
        [
          ['user', 'complete'],
          ['assistant', last.chunk_type === 'done' ? 'complete' : 'incomplete'],
        ],
      );
      assert.equal(stored[0].content, message, 'the user message is stored whole');
      assert.equal(stored[1].id, start.message_id);
      assert.equal(stored[1].content, text, 'the stored answer is exactly the text the client received');
      if (last.chunk_type === 'error') {
        assert.equal(stored[1].error?.code, last.code);
        assert.equal(stored[1].finish_reason, 'error');
      } else {
        assert.equal(stored[1].error, null);
        assert.equal(stored[1].finish_reason, last.finish_reason);
      }
    }

    for (const format of FORMATS) {
      for (const fault of FAULTS) {
        for (const at of ['before', 'after'] as const) {
          const want = expected(fault, format, at);
          if (!want) continue;
          const name = `${format}, ${fault}, ${at === 'before' ? 'before the first token' : fault === 'split_utf8' || fault === 'drip' ? 'whole body' : 'after the first token'}`;
          test(`${name} → ${'error' in want ? `error ${want.error}` : `done (${want.done})`}`, async () => {
            const text = at === 'before' && MID.includes(fault) ? '' : TEXT;
            const agent = await agentFor(format, { fault, text }, { max_retries: 0 });
            const r = await turn(agent.id, `q ${name}`);
            if ('error' in want) {
              assert.equal(r.last.chunk_type, 'error', JSON.stringify(r.last));
              assert.equal(r.last.code, want.error);
              assert.equal(r.last.retryable, want.retryable);
              assert.ok(typeof r.last.message === 'string' && r.last.message.length > 0, 'a message for humans');
              assert.equal(r.last.message_id, r.start.message_id);
            } else {
              assert.equal(r.last.chunk_type, 'done', JSON.stringify(r.last));
              assert.equal(r.last.finish_reason, want.done);
            }
            const sent = fault === 'split_utf8' || fault === 'drip' ? TEXT : at === 'after' && MID.includes(fault) ? HALF : '';
            assert.equal(r.text, sent, 'exactly the text the upstream sent before the fault');
            assert.equal(upstreamCalls(agent.caseId), 1, 'max_retries 0: one upstream request');
            await checkStored(r.start, `q ${name}`, r.last, r.text);
          });

          // Retries: a retryable failure before the first token is retried and the answer arrives;
          // after the first token (text already sent) nothing is retried, whatever the policy.
          if ('error' in want && (at === 'after' || want.retryable)) {
            test(`${name}, fail_times=1, max_retries=2 → ${at === 'before' ? 'retried success' : 'no retry, the same error'}`, async () => {
              const text = at === 'before' && MID.includes(fault) ? '' : TEXT;
              const agent = await agentFor(format, { fault, text, fail_times: 1 }, { max_retries: 2 });
              const r = await turn(agent.id, 'again');
              if (at === 'before') {
                assert.equal(r.last.chunk_type, 'done', JSON.stringify(r.last));
                assert.equal(r.text, text, 'the whole answer, once');
                assert.equal(upstreamCalls(agent.caseId), 2, 'one failure, one retry');
              } else {
                assert.equal(r.last.chunk_type, 'error');
                assert.equal(r.last.code, want.error);
                assert.equal(r.text, HALF);
                assert.equal(upstreamCalls(agent.caseId), 1, 'nothing is retried after the first token');
              }
              await checkStored(r.start, 'again', r.last, r.text);
            });
          }
        }
      }
    }

    test('non-retryable failures before the first token are not retried', async () => {
      for (const format of FORMATS) {
        for (const [fault, text] of [
          ['401', TEXT],
          ['malformed_json', ''],
        ] as const) {
          const agent = await agentFor(format, { fault, text, fail_times: 1 }, { max_retries: 2 });
          const r = await turn(agent.id, 'no retry');
          assert.equal(r.last.chunk_type, 'error');
          assert.equal(r.last.retryable, false);
          assert.equal(upstreamCalls(agent.caseId), 1, `${format} ${fault}`);
        }
      }
    });

    test('1,000 turns of mixed faults leak no socket, timer, listener or memory', async () => {
      // The mix: every fault and format, answers cut or whole, retried and not, and clients
      // that leave mid-stream.
      const mixes: Array<{ format: Format; o: Record<string, string | number>; llm?: Record<string, unknown>; leave?: boolean }> = [];
      for (const format of FORMATS) {
        mixes.push({ format, o: { text: TEXT } });
        mixes.push({ format, o: { text: TEXT, tokens_per_s: 400 }, leave: true });
        for (const fault of FAULTS) {
          if (expected(fault, format, 'after')) mixes.push({ format, o: { fault, text: TEXT } });
          if (expected(fault, format, 'before') && fault !== '429') mixes.push({ format, o: { fault, text: MID.includes(fault) ? '' : TEXT } });
        }
        mixes.push({ format, o: { fault: '500', text: TEXT }, llm: { max_retries: 1 } }); // a retry that fails again
      }
      const agents = await Promise.all(mixes.map(async (m) => ({ ...m, id: (await agentFor(m.format, m.o, { max_retries: 0, ...m.llm })).id })));

      const clients = new Agent();
      async function one(i: number): Promise<string> {
        const a = agents[i % agents.length]!;
        const controller = new AbortController();
        const res = await undiciFetch(`${s.url}/api/v1/agents/${a.id}/chat/stream`, {
          dispatcher: clients,
          method: 'POST',
          headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ message: `turn ${i}` }),
          signal: controller.signal,
        });
        let body = '';
        const decoder = new TextDecoder();
        try {
          for await (const chunk of res.body!) {
            body += decoder.decode(chunk as Uint8Array, { stream: true });
            if (a.leave && body.includes('"chunk_type":"content"')) {
              controller.abort();
              return 'left';
            }
          }
        } catch (err) {
          if (!a.leave) throw err;
          return 'left';
        }
        const m = /"chunk_type":"(done|error)"(?:,"code":"([a-z_]+)")?/.exec(body);
        assert.ok(m, `a terminal event: ${body.slice(-300)}`);
        return m[1] === 'done' ? 'done' : m[2]!;
      }
      const gc = exposeGc();
      const heap = () => {
        gc();
        gc();
        return process.memoryUsage().heapUsed;
      };
      const run = async (n: number, concurrency: number) => {
        const outcomes: Record<string, number> = {};
        let next = 0;
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            for (let i = next++; i < n; i = next++) {
              const o = await one(i);
              outcomes[o] = (outcomes[o] ?? 0) + 1;
            }
          }),
        );
        return outcomes;
      };

      // Warm: pools, caches, lazy modules, JIT.
      await run(agents.length * 3, 16);
      await settle(emu);
      await upstreamConnections(s);
      emu.requests.length = 0;
      const baseline = handles();
      const pooledBefore = await upstreamConnections(s);
      const heapBefore = heap();
      const rssBefore = process.memoryUsage().rss;
      const warnings: Error[] = [];
      const onWarning = (w: Error) => warnings.push(w);
      process.on('warning', onWarning);

      const started = Date.now();
      const outcomes = await run(1_000, 20);
      const elapsed = Date.now() - started;
      await clients.close();
      await settle(emu);
      process.off('warning', onWarning);

      assert.ok(
        emu.requests.every((r) => r.closedAt !== undefined),
        'every upstream request was closed',
      );
      const total = Object.values(outcomes).reduce((a, b) => a + b, 0);
      assert.equal(total, 1_000);
      for (const code of [
        'done',
        'left',
        'upstream_network',
        'upstream_protocol',
        'upstream_timeout',
        'upstream_auth',
        'upstream_unavailable',
        'upstream_content_filter',
        'upstream_error',
      ]) {
        assert.ok(outcomes[code]! > 0, `the mix produced ${code}: ${JSON.stringify(outcomes)}`);
      }
      const now = handles();
      const pooled = await upstreamConnections(s);
      assert.equal(pooled.open, pooled.idle, 'no upstream request is still running');
      // The emulator runs in this process: each pooled keep-alive connection is two sockets here.
      const expectedSockets = (baseline.TCPSocketWrap ?? 0) + 2 * (pooled.open - pooledBefore.open);
      assert.ok(
        (now.TCPSocketWrap ?? 0) <= expectedSockets + 2,
        `sockets: ${baseline.TCPSocketWrap} before, ${now.TCPSocketWrap} after, ${pooledBefore.open} → ${pooled.open} pooled`,
      );
      assert.ok((now.Timeout ?? 0) <= (baseline.Timeout ?? 0) + 22, `timers: ${baseline.Timeout ?? 0} before, ${now.Timeout ?? 0} after`);
      assert.deepEqual(
        warnings.map((w) => `${w.name}: ${w.message}`),
        [],
        'no MaxListenersExceededWarning or other warning',
      );
      // Retained memory: the history cache legitimately keeps the 1,000 new sessions (a few KB
      // each); a leaked response, socket or closure per turn would be far more.
      const grown = heap() - heapBefore;
      const rssGrown = process.memoryUsage().rss - rssBefore;
      console.log(
        `# ${engine}: 1,000 mixed turns in ${elapsed} ms ${JSON.stringify(outcomes)}; heap +${(grown / 2 ** 20).toFixed(1)} MiB, rss +${(rssGrown / 2 ** 20).toFixed(1)} MiB`,
      );
      assert.ok(grown < 24 * 2 ** 20, `heap grew ${(grown / 2 ** 20).toFixed(1)} MiB over 1,000 turns`);
    });
  });
}

const handles = () => {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
};

/** global.gc without restarting node with --expose-gc. */
function exposeGc(): () => void {
  if (typeof globalThis.gc === 'function') return globalThis.gc as () => void;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function upstreamConnections(s: { url: string; adminKey: string }) {
  const dispatcher = new Agent();
  const text = await (await undiciFetch(`${s.url}/metrics`, { dispatcher, headers: { authorization: `Bearer ${s.adminKey}` } })).text();
  await dispatcher.close();
  const read = (state: string) => Number(new RegExp(`agentmem_upstream_connections\\{state="${state}"\\} (\\d+)`).exec(text)![1]);
  return { open: read('open'), idle: read('idle') };
}

/** Waits until every upstream request has closed and the server has stored every answer. */
async function settle(emu: Emulator) {
  await waitFor('every upstream request closed', () => emu.requests.every((r) => r.closedAt !== undefined));
  // the server's side of each close (its answer stored, its socket back in the pool) has no signal to wait on
  await new Promise((r) => setTimeout(r, 300));
}
