// Bad input, over HTTP and WebSocket, on both engines: property-based (fast-check) on
// every JSON endpoint — arbitrary JSON values and mutated valid bodies — then oversized
// bodies, 10,000-level nesting, wrong content types, invalid UTF-8, NUL characters (in
// bodies, URLs and WebSocket messages). For every request: never a 5xx (nor an
// `internal_error` inside a 200 stream), every 4xx is `{error: {code, message}}` (OpenAI's
// shape on /v1), a rejected request changes no row of any table, and the server still
// answers /health afterwards.
// Runs: NUM_RUNS per endpoint per engine (AGENTMEM_FC_RUNS overrides; AGENTMEM_FC_SEED replays).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import WebSocket from 'ws';
import { errorCodes } from '../src/server/errors.ts';
import { createOrg, engines, startServer, type ChatEventLike, type TestServer } from './harness.ts';

const NUM_RUNS = Number(process.env.AGENTMEM_FC_RUNS ?? 60);
const SEED = process.env.AGENTMEM_FC_SEED ? Number(process.env.AGENTMEM_FC_SEED) : undefined;
const BODY_LIMIT = 64 * 1024;
const TABLES = ['organizations', 'users', 'api_keys', 'agents', 'sessions', 'messages', 'memories', 'memory_history', 'jobs'];
const DEEP = 10_000;
const fast = { provider: 'simulated', simulated: { first_token_ms: 0, tokens_per_s: 0 } };

interface Endpoint {
  name: string;
  method: string;
  path: string;
  valid: Record<string, unknown>;
  /** the platform admin's key instead of the org's */
  admin?: boolean;
  openai?: boolean;
  bodyLimit?: number;
}

// ---- arbitraries ------------------------------------------------------------------

/** Values that break things: odd strings (lone surrogates, RTL marks, huge), odd numbers, wrong types. */
const nasty: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '\uD800',
    'a\uDC00b',
    '😀👍🏽',
    '\u202E',
    '\uFEFF',
    'x'.repeat(300),
    'y'.repeat(25_000),
    '-1',
    '00000000-0000-4000-8000-000000000000',
    '../../etc/passwd',
    "'; drop table agents; --",
    '{"$gt": ""}',
  ),
  fc.constantFrom(0, -0, -1, 0.5, 1e308, -1e308, 2 ** 53 + 1, 5e-324, 1_000_000_000_000, true, false, null, [], {}),
);

type Path = Array<string | number>;
function pathsOf(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  if (v && typeof v === 'object') {
    for (const [k, child] of Object.entries(v)) {
      const p = [...at, Array.isArray(v) ? Number(k) : k];
      out.push(p);
      pathsOf(child, p, out);
    }
  }
  return out;
}
const containersOf = (v: unknown): Path[] => [
  [],
  ...pathsOf(v).filter((p) => {
    const x = getAt(v, p);
    return x !== null && typeof x === 'object';
  }),
];
/** An object or array as the mutations see it: keys (indexes) to values. */
type Container = Record<string | number, unknown>;
function getAt(v: unknown, p: Path): unknown {
  return p.reduce<unknown>((x, k) => (x == null ? undefined : (x as Container)[k]), v);
}

type Op = { kind: 'set' | 'delete' | 'add'; pick: number; key: string; value: unknown };
function applyOps(valid: unknown, ops: Op[]): unknown {
  const body = structuredClone(valid);
  for (const { value: shared, ...op } of ops) {
    const value = structuredClone(shared); // constants are one instance: never mutate or link them
    if (op.kind === 'add') {
      const cs = containersOf(body);
      const c = getAt(body, cs[op.pick % cs.length]!);
      if (Array.isArray(c)) c.push(value);
      else (c as Container)[op.key] = value;
      continue;
    }
    const ps = pathsOf(body);
    if (!ps.length) continue;
    const p = ps[op.pick % ps.length]!;
    const parent = getAt(body, p.slice(0, -1)) as Container;
    const k = p.at(-1)!;
    if (op.kind === 'set') parent[k] = value;
    else if (Array.isArray(parent)) parent.splice(Number(k), 1);
    else delete parent[k];
  }
  return body;
}
const op: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom('set', 'set', 'delete', 'add'),
  pick: fc.nat(),
  key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'id', 'org_id', 'type')),
  value: nasty,
});
const mutated = (valid: unknown) => fc.array(op, { minLength: 1, maxLength: 3 }).map((ops) => applyOps(valid, ops));
/** Half arbitrary JSON, half valid bodies with one to three mutations. */
const bodies = (valid: unknown) => fc.oneof(fc.jsonValue({ maxDepth: 4 }), mutated(valid), mutated(valid));

const deepArray = '['.repeat(DEEP) + ']'.repeat(DEEP);
const deepObject = '{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP);

// ---- the suite ----------------------------------------------------------------------

for (const engine of engines) {
  describe(`bad input on ${engine}`, () => {
    let s: TestServer;
    let orgKey: string;
    let endpoints: Endpoint[];
    let chatAgent: string;
    let counts = { requests: 0, rejected: 0, accepted: 0 };

    /** One row hash per table: any insert, update or delete changes it. */
    async function fingerprint(): Promise<Record<string, string>> {
      const out: Record<string, string> = {};
      for (const t of TABLES) {
        const [row] = await s.app.db.query<{ n: number; h: string }>(
          `select count(*)::int as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h from ${t} x`,
        );
        out[t] = `${row!.n}:${row!.h}`;
      }
      return out;
    }

    /** After an accepted request: wait until its after-the-answer writes have landed. */
    async function settle() {
      let last = await fingerprint();
      for (let i = 0; i < 50; i++) {
        await sleep(15);
        const now = await fingerprint();
        if (JSON.stringify(now) === JSON.stringify(last)) return;
        last = now;
      }
    }

    function checkErrorShape(ep: { openai?: boolean }, status: number, text: string, what: string) {
      let body: { error: { message: string; type: string; code: string } };
      try {
        body = JSON.parse(text);
      } catch {
        assert.fail(`${what}: ${status} is not JSON: ${text.slice(0, 200)}`);
      }
      assert.equal(typeof body?.error?.message, 'string', `${what}: ${text.slice(0, 200)}`);
      if (ep.openai) {
        assert.equal(typeof body.error.type, 'string', what);
        assert.ok('param' in body.error && 'code' in body.error, `${what}: OpenAI error shape: ${text.slice(0, 200)}`);
      } else {
        assert.ok(Object.hasOwn(errorCodes, body.error.code), `${what}: unknown code ${body.error.code}`);
      }
    }

    /** Sends one request; asserts no 5xx, the error shape, and no state change when rejected. */
    async function check(
      ep: Endpoint,
      body: string | Buffer | undefined,
      headers: Record<string, string> = { 'content-type': 'application/json' },
      path = ep.path,
    ) {
      const before = await fingerprint();
      const res = await fetch(s.url + path, {
        method: ep.method,
        headers: { authorization: `Bearer ${ep.admin ? s.adminKey : orgKey}`, ...headers },
        body: typeof body === 'string' || body === undefined ? body : new Uint8Array(body),
      });
      const text = await res.text();
      counts.requests++;
      const what = `${ep.method} ${path} ${String(body ?? '').slice(0, 160)}`;
      assert.ok(res.status < 500, `${what} → ${res.status} ${text.slice(0, 300)}`);
      assert.ok(!/"code":"internal_error"/.test(text), `${what} → internal_error in the stream: ${text.slice(0, 300)}`);
      if (res.status >= 400) {
        counts.rejected++;
        checkErrorShape(ep, res.status, text, what);
        assert.deepEqual(await fingerprint(), before, `${what} → ${res.status} but changed state`);
      } else {
        counts.accepted++;
        await settle();
      }
      return { status: res.status, text };
    }

    async function healthy() {
      const res = await fetch(`${s.url}/health`);
      assert.equal(res.status, 200);
    }

    before(async () => {
      s = await startServer(engine, { bodyLimit: BODY_LIMIT });
      const org = await createOrg(s.api, 'bad-input');
      orgKey = org.key;
      const as = async (method: string, path: string, body?: unknown) => {
        const res = await s.api(method, path, { key: orgKey, body });
        assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
        return res.body;
      };
      await as('POST', '/api/v1/users', { id: 'u1', name: 'User One' });
      const agentBody = { name: 'chat', system_prompt: 'Be brief.', llm: fast, memory: { last_messages: 4, extract: false } };
      chatAgent = (await as('POST', '/api/v1/agents', agentBody)).id;
      const patchAgent = (await as('POST', '/api/v1/agents', { ...agentBody, name: 'patched' })).id;
      const session = (await as('POST', `/api/v1/agents/${chatAgent}/sessions`, { user_id: 'u1' })).id;
      const memory = (await as('POST', '/api/v1/memories', { content: 'likes green tea', agent_id: chatAgent, user_id: 'u1' })).id;
      const chat = { message: 'hello there', user_id: 'u1', session_id: session };
      const ui = { id: 'chat-1', messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hi' }] }], trigger: 'submit-message', user_id: 'u1' };
      const openaiBody = {
        model: chatAgent,
        messages: [
          { role: 'system', content: 'x' },
          { role: 'user', content: [{ type: 'text', text: 'hi' }] },
        ],
        user: 'u1',
      };
      endpoints = [
        { name: 'organizations create', method: 'POST', path: '/api/v1/organizations', valid: { name: 'org' }, admin: true },
        { name: 'organizations patch', method: 'PATCH', path: `/api/v1/organizations/${org.id}`, valid: { name: 'renamed' } },
        { name: 'users create', method: 'POST', path: '/api/v1/users', valid: { id: 'u2', name: 'Two', metadata: { tier: 'pro' } } },
        { name: 'users patch', method: 'PATCH', path: '/api/v1/users/u1', valid: { name: 'One', metadata: { tier: 'free' } } },
        { name: 'api-keys create', method: 'POST', path: '/api/v1/api-keys', valid: { name: 'ci', role: 'member' } },
        { name: 'agents create', method: 'POST', path: '/api/v1/agents', valid: { ...agentBody, streaming: { text_buffer_size: 2, flush_interval_ms: 10 } } },
        {
          name: 'agents patch',
          method: 'PATCH',
          path: `/api/v1/agents/${patchAgent}`,
          valid: { name: 'p2', memory: { last_messages: 5 }, streaming: { text_buffer_size: 3 } },
        },
        { name: 'sessions create', method: 'POST', path: `/api/v1/agents/${chatAgent}/sessions`, valid: { user_id: 'u1', title: 't', metadata: { a: 1 } } },
        { name: 'chat JSON', method: 'POST', path: `/api/v1/agents/${chatAgent}/chat`, valid: chat },
        { name: 'chat SSE', method: 'POST', path: `/api/v1/agents/${chatAgent}/chat/stream`, valid: { ...chat, resumable: false } },
        { name: 'chat UI stream', method: 'POST', path: `/api/v1/agents/${chatAgent}/chat/ui`, valid: ui },
        {
          name: 'memories add',
          method: 'POST',
          path: '/api/v1/memories',
          valid: { content: 'likes tea', agent_id: chatAgent, user_id: 'u1', metadata: { k: 'v' } },
        },
        {
          name: 'memories batch',
          method: 'POST',
          path: '/api/v1/memories/batch',
          bodyLimit: 16 * 1024 * 1024, // an admin key's (docs/security.md#limits)
          valid: { agent_id: chatAgent, user_id: 'u1', memories: [{ content: 'a fact' }, { content: 'another', metadata: { n: 1 } }] },
        },
        { name: 'memories patch', method: 'PATCH', path: `/api/v1/memories/${memory}`, valid: { content: 'likes black tea', metadata: { k: 2 } } },
        {
          name: 'memories search',
          method: 'POST',
          path: '/api/v1/memories/search',
          valid: { query: 'tea', agent_id: chatAgent, user_id: 'u1', top_k: 3, min_score: 0 },
        },
        { name: 'openai completions', method: 'POST', path: '/v1/chat/completions', valid: openaiBody, openai: true },
        {
          name: 'openai completions stream',
          method: 'POST',
          path: '/v1/chat/completions',
          valid: { ...openaiBody, stream: true, stream_options: { include_usage: true } },
          openai: true,
        },
      ];
      for (const ep of endpoints) {
        const { status } = await check(ep, JSON.stringify(ep.valid));
        assert.ok(status < 300 || ep.name === 'users create', `${ep.name}: the valid body is accepted (${status})`);
      }
    });
    after(async () => {
      await s?.close();
      // A figure for docs/reliability.md: how many requests, how many refused.
      if (process.env.AGENTMEM_FC_REPORT) console.error(`bad-input ${engine}:`, counts);
    });

    // One property per endpoint. Test names are fixed, so declared from a static list.
    const names = [
      'organizations create',
      'organizations patch',
      'users create',
      'users patch',
      'api-keys create',
      'agents create',
      'agents patch',
      'sessions create',
      'chat JSON',
      'chat SSE',
      'chat UI stream',
      'memories add',
      'memories batch',
      'memories patch',
      'memories search',
      'openai completions',
      'openai completions stream',
    ];
    for (const name of names) {
      test(`${name}: arbitrary JSON and mutated valid bodies`, async () => {
        const ep = endpoints.find((e) => e.name === name)!;
        await fc.assert(
          fc.asyncProperty(bodies(ep.valid), async (body) => {
            await check(ep, JSON.stringify(body));
          }),
          { numRuns: NUM_RUNS, seed: SEED, endOnFailure: false },
        );
        await healthy();
      });
    }

    test('oversized bodies: 413 payload_too_large', async () => {
      for (const ep of endpoints) {
        const limit = ep.bodyLimit ?? BODY_LIMIT;
        const big = JSON.stringify({ ...ep.valid, pad: 'x'.repeat(limit) });
        const { status, text } = await check(ep, big);
        assert.equal(status, 413, `${ep.name}: ${text.slice(0, 200)}`);
      }
      await healthy();
    });

    test('10,000 levels of nesting: as the body, and inside free-JSON fields', async () => {
      for (const ep of endpoints) {
        for (const raw of [deepArray, deepObject]) assert.equal((await check(ep, raw)).status >= 400, true, ep.name);
        // In every place of the valid body (metadata and loose objects accept any JSON).
        for (const p of [[] as Path, ...pathsOf(ep.valid)].slice(0, 12)) {
          const marker = '"__DEEP__"';
          const holder = structuredClone(ep.valid) as Container;
          if (p.length === 0) holder.deep = '__DEEP__';
          else {
            const parent = getAt(holder, p.slice(0, -1)) as Container;
            parent[p.at(-1)!] = '__DEEP__';
          }
          await check(ep, JSON.stringify(holder).replace(marker, deepObject));
        }
      }
      await healthy();
    });

    test('wrong content types: 415 (or 400), never parsed as something else', async () => {
      const types = [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        'application/jsonx',
        'application/octet-stream',
        'image/png',
      ];
      for (const ep of endpoints) {
        for (const type of types) {
          const { status } = await check(ep, JSON.stringify(ep.valid), { 'content-type': type });
          assert.equal(status, 415, `${ep.name} as ${type}`);
        }
        // No content type at all, with a body: undici sends text/plain;charset=UTF-8.
        assert.ok((await check(ep, JSON.stringify(ep.valid), {})).status >= 400, `${ep.name} without a content type`);
        // Empty bodies, and bodies that are JSON but not objects.
        for (const raw of ['', ' ', 'null', '"x"', '0', '[]', '{"a":1}{"b":2}', '{"a":1,}', "{'a':1}"]) {
          assert.ok((await check(ep, raw)).status >= 400, `${ep.name}: ${JSON.stringify(raw)}`);
        }
      }
      await healthy();
    });

    test('invalid UTF-8 bytes in string values and between tokens', async () => {
      const bad = [
        Buffer.from([0xff, 0xfe]),
        Buffer.from([0xc0, 0xaf]),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from([0xf4, 0x90, 0x80, 0x80]),
        Buffer.from([0xe2, 0x82]),
      ];
      for (const ep of endpoints) {
        const json = JSON.stringify(ep.valid);
        const firstString = json.indexOf('":"') + 3; // inside the first string value
        for (const b of bad) {
          await check(ep, Buffer.concat([Buffer.from(json.slice(0, firstString)), b, Buffer.from(json.slice(firstString))]));
          await check(ep, Buffer.concat([b, Buffer.from(json)]));
        }
      }
      await healthy();
    });

    test('NUL characters: escaped or raw, in bodies, URLs and queries: 400', async () => {
      for (const ep of endpoints) {
        const json = JSON.stringify(ep.valid);
        const at = json.indexOf('":"') + 3;
        for (const nul of ['\\u0000', '\u0000']) {
          const { status } = await check(ep, json.slice(0, at) + nul + json.slice(at));
          assert.equal(status, 400, `${ep.name} with ${JSON.stringify(nul)}`);
        }
        // An escaped backslash before u0000 is not a NUL: the text `\u0000` is fine.
        await check(ep, json.slice(0, at) + '\\\\u0000' + json.slice(at));
      }
      const get = { name: 'get', method: 'GET', path: '', valid: {} } satisfies Endpoint;
      const del = { ...get, method: 'DELETE' };
      const urls: Array<[Endpoint, string]> = [
        [get, '/api/v1/users/a%00b'],
        [get, '/api/v1/users?limit=1%00'],
        [get, '/api/v1/memories?user_id=a%00b'],
        [get, `/api/v1/memories?agent_id=%00`],
        [get, `/api/v1/agents/${chatAgent}/sessions?user_id=%00`],
        [get, '/api/v1/agents/%00'],
        [get, '/api/v1/sessions/%00/messages'],
        [get, '/api/v1/memories/%00/history'],
        [get, `/api/v1/agents/${chatAgent}/chat/stream/%00?last_event_id=%00`],
        [get, '/api/v1/organizations/%00'],
        [{ ...get, openai: true }, '/v1/models/%00'],
        [del, '/api/v1/users/%00'],
        [del, '/api/v1/api-keys/%00'],
      ];
      for (const [ep, url] of urls) {
        const { status } = await check(ep, undefined, {}, url);
        assert.ok(status === 400 || status === 404, `${url} → ${status}`);
      }
      // A PATCH of a user whose id has a NUL.
      const { status } = await check({ name: 'users patch', method: 'PATCH', path: '/api/v1/users/x%00', valid: {} }, JSON.stringify({ name: 'n' }));
      assert.ok(status === 400 || status === 404);
      await healthy();
    });

    describe('WebSocket chat input', () => {
      /** A socket authenticated by header, with its events queued. */
      function open() {
        const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/v1/agents/${chatAgent}/chat/ws`, { headers: { authorization: `Bearer ${orgKey}` } });
        const events: ChatEventLike[] = [];
        let wake = () => {};
        let closed: { code: number } | undefined;
        ws.on('message', (d) => {
          events.push(JSON.parse(d.toString()));
          wake();
        });
        ws.on('close', (code) => {
          closed = { code };
          wake();
        });
        const ready = new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
        /** Events until one ends a turn, the socket closes, or `quietMs` pass with nothing new. */
        async function drain(quietMs = 300): Promise<{ events: ChatEventLike[]; closed?: { code: number } }> {
          const got: ChatEventLike[] = [];
          for (;;) {
            while (events.length) {
              const e = events.shift()!;
              got.push(e);
              if (e.chunk_type === 'done' || e.chunk_type === 'error') return { events: got };
            }
            if (closed) return { events: got, closed };
            const timer = new Promise<'quiet'>((r) => setTimeout(() => r('quiet'), quietMs));
            const woke = new Promise<'woke'>((r) => (wake = () => r('woke')));
            if ((await Promise.race([timer, woke])) === 'quiet') return { events: got };
          }
        }
        return { ws, ready, drain, isClosed: () => closed };
      }

      function checkEvents(events: ChatEventLike[], what: string) {
        for (const e of events) {
          assert.notEqual(e.code, 'internal_error', `${what}: ${JSON.stringify(e)}`);
          if (e.chunk_type === 'error') {
            assert.equal(typeof e.code, 'string', what);
            assert.equal(typeof e.message, 'string', what);
          }
        }
      }

      test('arbitrary JSON and mutated chat messages: an error event or a turn; the socket stays open', async () => {
        let c = open();
        await c.ready;
        const valid = { type: 'chat', message: 'hello', user_id: 'u1' };
        await fc.assert(
          fc.asyncProperty(fc.oneof(fc.jsonValue({ maxDepth: 4 }), mutated(valid), mutated(valid)), async (msg) => {
            const before = await fingerprint();
            const raw = JSON.stringify(msg);
            c.ws.send(raw);
            const { events, closed } = await c.drain();
            const what = `ws ${raw.slice(0, 160)}`;
            checkEvents(events, what);
            assert.equal(closed, undefined, `${what}: the socket was closed`);
            if (!events.some((e) => e.chunk_type === 'start')) assert.deepEqual(await fingerprint(), before, `${what}: refused but changed state`);
            else await settle();
          }),
          { numRuns: NUM_RUNS, seed: SEED, endOnFailure: false },
        );
        c.ws.close();

        // Frames that are not JSON text.
        c = open();
        await c.ready;
        const before = await fingerprint();
        for (const raw of [
          '',
          'not json',
          '{"type":',
          deepArray,
          deepObject,
          `{"type":"chat","message":${deepObject}}`,
          `{"type":"chat","message":"hi","user_id":${deepArray}}`,
        ]) {
          c.ws.send(raw);
          const { events, closed } = await c.drain();
          checkEvents(events, raw.slice(0, 40));
          assert.equal(events.at(-1)?.chunk_type, 'error', `${raw.slice(0, 40)} → ${JSON.stringify(events).slice(0, 200)}`);
          assert.equal(closed, undefined);
        }
        c.ws.send(Buffer.from(JSON.stringify(valid)), { binary: true });
        assert.equal((await c.drain()).events.at(-1)?.code, 'bad_request', 'binary frames are refused');
        for (const nul of ['\\u0000', '\u0000']) {
          c.ws.send(`{"type":"chat","message":"a${nul}b","user_id":"u1"}`);
          const { events } = await c.drain();
          checkEvents(events, `NUL ${JSON.stringify(nul)}`);
          assert.ok(!events.some((e) => e.chunk_type === 'start'), 'a NUL never starts a turn');
        }
        c.ws.send(JSON.stringify({ ...valid, user_id: 'a\u0000b' }));
        checkEvents((await c.drain()).events, 'NUL in user_id');
        assert.deepEqual(await fingerprint(), before, 'nothing stored');
        c.ws.close();

        // Invalid UTF-8 in a text frame, and a frame over the limit: protocol errors, the socket is closed.
        c = open();
        await c.ready;
        c.ws.send(Buffer.concat([Buffer.from('{"type":"chat","message":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), { binary: false });
        assert.equal((await c.drain(2_000)).closed?.code, 1007);
        c = open();
        await c.ready;
        c.ws.send(JSON.stringify({ ...valid, message: 'x'.repeat(BODY_LIMIT + 1) }));
        assert.equal((await c.drain(2_000)).closed?.code, 1009);
        await healthy();
      });
    });
  });
}
