// The client package (@agentmem/client) against a real server over a socket, on both engines:
// its generated types are what the server serves, the REST routes answer through them, a turn
// streams as native events and resumes with Last-Event-ID (by hand, and by itself when the
// connection drops), errors carry the server's code, and a scoped key works with plain fetch,
// in Node and in a real browser (Debian's chromium through playwright-core).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { AgentmemError, createAgentmemClient, isAgentmemError, type ChatEvent, type Stage } from '../packages/client/src/index.ts';
import type { AgentEvent } from '../src/agent/events.ts';
import type { Stage as ServerStage } from '../src/trace/timings.ts';
import { clientTypes } from '../scripts/client-types-source.ts';
import { createOrg, engines, messagesOf, serverAndEmulator, type TestServer } from './harness.ts';

// At compile time: every event the server streams is a client event, and the kinds are the same.
const serverEventIsClientEvent = (e: AgentEvent): ChatEvent => e;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameKinds: Same<AgentEvent['chunk_type'], ChatEvent['chunk_type']> = true;
const sameStages: Same<ServerStage, Stage> = true;
(void serverEventIsClientEvent, sameKinds, sameStages);

const schemaPath = fileURLToPath(new URL('../packages/client/src/schema.ts', import.meta.url));
const CHROMIUM = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim();
const noBrowser = CHROMIUM ? false : 'no browser: no chromium on PATH (apt-get install -y chromium; .ci/run does)';

// Quick, and every delta its own event (so a stream has several frames to cut between).
const quick = { name: 'client', llm: { provider: 'simulated', simulated: { first_token_ms: 0, tokens_per_s: 0 } }, streaming: { text_buffer_size: 1 } };

const contentOf = (events: ChatEvent[]) => events.flatMap((e) => (e.chunk_type === 'content' ? [e.content] : [])).join('');

/** fetch, but the POST of a chat stream loses its connection after `frames` SSE frames. */
function droppingFetch(frames: number): (req: Request) => Promise<Response> {
  return async (req) => {
    const res = await fetch(req);
    if (req.method !== 'POST' || !req.url.endsWith('/chat/stream') || !res.body) return res;
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    let text = '';
    let passed = 0;
    const cut = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (passed === -1) return;
        text += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = text.indexOf('\n\n')) >= 0) {
          controller.enqueue(encoder.encode(text.slice(0, end + 2)));
          text = text.slice(end + 2);
          if (++passed === frames) {
            passed = -1;
            controller.error(new TypeError('network connection lost'));
            return;
          }
        }
      },
    });
    return new Response(res.body.pipeThrough(cut), { status: res.status, headers: res.headers });
  };
}

for (const engine of engines) {
  describe(`client package on ${engine}`, () => {
    let s: TestServer;
    serverAndEmulator(engine, (w) => ({ s } = w));

    test('the committed types are generated from the document this server serves', async () => {
      const doc = await (await fetch(`${s.url}/docs/json`)).json();
      assert.equal(await clientTypes(doc, schemaPath), readFileSync(schemaPath, 'utf8'), 'run `npx tsx scripts/client-types.ts`');
    });

    test('REST routes through the typed client; errors carry the server’s code', async () => {
      const am = createAgentmemClient({ baseUrl: s.url, apiKey: s.adminKey });
      const created = await am.api.POST('/api/v1/agents', { body: { name: 'typed', system_prompt: 'Be brief.' } });
      assert.equal(created.response.status, 201);
      const agentId = (created.data as { id: string }).id;
      const added = await am.api.POST('/api/v1/memories', { body: { content: 'Prefers green tea', agent_id: agentId, user_id: 'ada' } });
      assert.equal(added.response.status, 201);
      const found = await am.api.POST('/api/v1/memories/search', { body: { query: 'green tea', agent_id: agentId, user_id: 'ada' } });
      assert.deepEqual(
        (found.data as { results: Array<{ content: string }> }).results.map((r) => r.content),
        ['Prefers green tea'],
      );

      const missing = await am.api.GET('/api/v1/agents/{id}', { params: { path: { id: '00000000-0000-4000-8000-000000000000' } } });
      assert.equal(missing.response.status, 404);
      assert.equal(missing.error?.error.code, 'not_found');
      const invalid = await am.api.POST('/api/v1/memories/search', { body: { query: 'tea', top_k: 1_000 } });
      assert.equal(invalid.response.status, 400);
      assert.equal(invalid.error?.error.code, 'validation_error');
      assert.match(invalid.error!.error.message, /top_k/);

      const wrongKey = createAgentmemClient({ baseUrl: s.url, apiKey: 'am_wrong' });
      const refused = await wrongKey.api.GET('/api/v1/agents');
      assert.equal(refused.error?.error.code, 'unauthorized');
      await assert.rejects(
        async () => {
          for await (const _ of wrongKey.stream(agentId, { message: 'hi' }));
        },
        (err) => isAgentmemError(err, 'unauthorized') && err.status === 401 && !err.retryable,
      );
    });

    test('a turn streams as native events, is stored, and resumes by hand after Last-Event-ID', async () => {
      const am = createAgentmemClient({ baseUrl: s.url, apiKey: s.adminKey });
      const agentId = (await s.api('POST', '/api/v1/agents', { body: quick })).body.id;
      const events: ChatEvent[] = [];
      const stream = am.stream(agentId, { message: 'Tell me about the sea.', user_id: 'ada' });
      for await (const e of stream) events.push(e);
      assert.deepEqual([events[0]!.chunk_type, events.at(-1)!.chunk_type], ['start', 'done']);
      assert.ok(events.filter((e) => e.chunk_type === 'content').length > 2, 'several content events');
      const stored = await messagesOf(s, stream.sessionId!);
      assert.equal(stored.at(-1).id, stream.messageId);
      assert.equal(stored.at(-1).content, contentOf(events));

      // Leave after two content events (the turn runs on: resumable), then take the rest from the hold.
      const first: ChatEvent[] = [];
      const left = am.stream(agentId, { message: 'Tell me about the sea again.', resumable: true });
      for await (const e of left) {
        first.push(e);
        if (first.filter((x) => x.chunk_type === 'content').length === 2) break;
      }
      const rest: ChatEvent[] = [];
      for await (const e of am.resume(agentId, left.messageId!, left.lastEventId)) rest.push(e);
      assert.equal(rest.at(-1)!.chunk_type, 'done');
      assert.ok(!rest.some((e) => e.chunk_type === 'start'), 'nothing before Last-Event-ID again');
      const answer = (await messagesOf(s, left.sessionId!)).at(-1);
      assert.equal(contentOf(first) + contentOf(rest), answer.content);

      await assert.rejects(
        async () => {
          for await (const _ of am.resume(agentId, '00000000-0000-4000-8000-000000000000', '3'));
        },
        (err) => err instanceof AgentmemError && err.code === 'not_found' && err.status === 404,
      );
    });

    test('a dropped connection is resumed by the stream itself: every frame once, in order', async () => {
      const am = createAgentmemClient({ baseUrl: s.url, apiKey: s.adminKey, fetch: droppingFetch(3) });
      const agentId = (await s.api('POST', '/api/v1/agents', { body: quick })).body.id;
      const events: ChatEvent[] = [];
      const ids: number[] = [];
      const stream = am.stream(agentId, { message: 'Tell me a long story.', resumable: true });
      for await (const e of stream) {
        events.push(e);
        ids.push(Number(stream.lastEventId));
      }
      assert.equal(events.at(-1)!.chunk_type, 'done');
      assert.deepEqual(
        ids,
        ids.map((_, i) => i + 1),
        'frame ids 1, 2, 3, … without a gap or a repeat',
      );
      assert.equal(contentOf(events), (await messagesOf(s, stream.sessionId!)).at(-1).content);

      // Without reconnects the drop is the caller's to see.
      const once = createAgentmemClient({ baseUrl: s.url, apiKey: s.adminKey, fetch: droppingFetch(3), reconnects: 0 });
      await assert.rejects(async () => {
        for await (const _ of once.stream(agentId, { message: 'Again.', resumable: true }));
      }, /network connection lost/);
    });

    test('a scoped key with plain fetch: its agent as its user, nothing else', async () => {
      const agentId = (await s.api('POST', '/api/v1/agents', { body: quick })).body.id;
      const otherAgent = (await s.api('POST', '/api/v1/agents', { body: quick })).body.id;
      await s.api('POST', '/api/v1/memories', { body: { content: 'Bob likes jazz', agent_id: agentId, user_id: 'bob' } });
      const minted = await s.api('POST', '/api/v1/api-keys', { body: { name: 'web:ada', role: 'member', user_id: 'ada', agent_ids: [agentId] } });
      assert.equal(minted.status, 201, JSON.stringify(minted.body));
      const am = createAgentmemClient({ baseUrl: s.url, apiKey: minted.body.key });

      const events: ChatEvent[] = [];
      for await (const e of am.stream(agentId, { message: 'Hello from the browser.' })) events.push(e);
      assert.equal(events.at(-1)!.chunk_type, 'done');
      const sessions = await am.api.GET('/api/v1/agents/{id}/sessions', { params: { path: { id: agentId } } });
      assert.equal(sessions.response.status, 200);
      const own = await am.api.GET('/api/v1/memories');
      assert.ok(!JSON.stringify(own.data).includes('jazz'), "another user's memories are not listed");

      await assert.rejects(
        async () => {
          for await (const _ of am.stream(otherAgent, { message: 'hi' }));
        },
        (err) => isAgentmemError(err, 'forbidden') && err.status === 403,
      );
      await assert.rejects(
        async () => {
          for await (const _ of am.stream(agentId, { message: 'hi', user_id: 'bob' }));
        },
        (err) => isAgentmemError(err, 'forbidden'),
      );
      const admin = await am.api.POST('/api/v1/agents', { body: { name: 'not mine' } });
      assert.equal(admin.error?.error.code, 'forbidden');

      const other = await createOrg(s.api, `client-${engine}`);
      const stranger = createAgentmemClient({ baseUrl: s.url, apiKey: other.key });
      const hidden = await stranger.api.GET('/api/v1/agents/{id}', { params: { path: { id: agentId } } });
      assert.equal(hidden.error?.error.code, 'not_found');
    });

    test('in a real browser: the bundled client streams a turn with a scoped key', { skip: noBrowser }, async () => {
      const { build } = await import('esbuild');
      const bundle = await build({
        entryPoints: [fileURLToPath(new URL('../packages/client/src/index.ts', import.meta.url))],
        bundle: true,
        write: false,
        format: 'iife',
        globalName: 'agentmem',
        platform: 'browser',
        target: 'es2022',
      });
      const agentId = (await s.api('POST', '/api/v1/agents', { body: quick })).body.id;
      const key = (await s.api('POST', '/api/v1/api-keys', { body: { name: 'web:ada', user_id: 'ada', agent_ids: [agentId] } })).body.key;
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      try {
        const page = await browser.newPage();
        await page.goto(`${s.url}/health`);
        await page.addScriptTag({ content: bundle.outputFiles[0]!.text });
        const seen = await page.evaluate(
          async ({ key, agentId }) => {
            const { createAgentmemClient } = (globalThis as unknown as { agentmem: typeof import('../packages/client/src/index.ts') }).agentmem; // the bundle's global
            const am = createAgentmemClient({ baseUrl: location.origin, apiKey: key });
            const kinds: string[] = [];
            let text = '';
            for await (const e of am.stream(agentId, { message: 'Hello from Chromium.' })) {
              kinds.push(e.chunk_type);
              if (e.chunk_type === 'content') text += e.content;
            }
            let refused: unknown;
            try {
              for await (const _ of am.stream(agentId, { message: 'hi', user_id: 'bob' }));
            } catch (err) {
              const e = err as AgentmemError;
              refused = { name: e.name, code: e.code, status: e.status };
            }
            const me = await am.api.GET('/api/v1/me');
            return { kinds, text, refused, me: me.data, userAgent: navigator.userAgent };
          },
          { key, agentId },
        );
        assert.match(seen.userAgent, /Chrome/);
        assert.deepEqual([seen.kinds[0], seen.kinds.at(-1)], ['start', 'done']);
        assert.ok(seen.text.length > 0);
        assert.deepEqual(seen.refused, { name: 'AgentmemError', code: 'forbidden', status: 403 });
        assert.equal((seen.me as { user_id: string | null }).user_id, 'ada');
      } finally {
        await browser.close();
      }
    });
  });
}
