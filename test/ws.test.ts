// WebSocket chat at /agents/:id/chat/ws with the `ws` client over a real socket:
// the SSE events one per message, several turns per socket, cancel, both ways to
// authenticate, bad messages answered rather than dropped, close aborts the turn.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startEmulator } from '../src/emulator/server.ts';
import {
  chatOf,
  createOrg,
  engines,
  startServer,
  type ChatEventLike,
  type StoredMessage,
  type TestServer,
  emulatorAgent,
  messagesOf,
  waitFor,
} from './harness.ts';
import { WsClient } from './ws-client.ts';

type Emulator = Awaited<ReturnType<typeof startEmulator>>;

const said = 'Over the socket: 你好 😀👍🏽 — fine.';
// 200 tokens at 20 a second: a turn that would run 10 s, cut short by the tests
const slow = 'a b c d e f g h i j k l m n o p q r s t u v w x y z '.repeat(8).trim();

const textOf = (events: ChatEventLike[]) =>
  events
    .filter((e) => e.chunk_type === 'content')
    .map((e) => e.content)
    .join('');

for (const engine of engines) {
  describe(`WebSocket chat on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    let agentId: string;
    let slowId: string;
    const open: WsClient[] = [];
    before(async () => {
      [s, emu] = await Promise.all([startServer(engine), startEmulator({ port: 0, profile: 'instant' })]);
      agentId = (await emuAgent({ text: said })).id;
      slowId = (await emuAgent({ text: slow, tokens_per_s: 20 }, { streaming: { text_buffer_size: 1 } })).id;
    });
    after(async () => {
      for (const c of open) c.ws.terminate();
      await s?.close();
      await emu?.close();
    });

    const emuAgent = (o: Record<string, string | number>, extra: object = {}, key = s.adminKey) => emulatorAgent(s, emu, o, { name: 'ws', ...extra }, key);
    const wsUrl = (id: string) => `${s.url.replace(/^http/, 'ws')}/api/v1/agents/${id}/chat/ws`;
    async function connect(id: string, key: string | null = s.adminKey) {
      const c = new WsClient(wsUrl(id), key ? { authorization: `Bearer ${key}` } : {});
      open.push(c);
      await c.upgraded;
      return c;
    }
    test('header auth: the SSE events, one per message, and several turns on one socket', async () => {
      const c = await connect(agentId);
      c.send({ type: 'chat', message: 'first', user_id: 'wsu' });
      const first = await c.events();
      assert.equal(first[0].chunk_type, 'start');
      assert.equal(first.at(-1).chunk_type, 'done', JSON.stringify(first.at(-1)));
      assert.equal(textOf(first), said);
      assert.ok(first.at(-1).usage.total_tokens > 0);
      assert.equal(typeof first.at(-1).timings.first_byte, 'number');
      const sessionId = first[0].session_id;

      c.send({ type: 'chat', message: 'second', session_id: sessionId });
      const second = await c.events();
      assert.equal(second[0].session_id, sessionId);
      assert.equal(textOf(second), said);
      const stored = await messagesOf(s, sessionId);
      assert.deepEqual(
        stored.map((m: StoredMessage) => [m.role, m.content]),
        [
          ['user', 'first'],
          ['assistant', said],
          ['user', 'second'],
          ['assistant', said],
        ],
      );
      c.ws.close();
    });

    test('first-message auth: {"type":"auth"} then chat, without waiting for an answer', async () => {
      const c = await connect(agentId, null);
      c.send({ type: 'auth', api_key: s.adminKey });
      c.send({ type: 'chat', message: 'hello' });
      const events = await c.events();
      assert.equal(events.at(-1).chunk_type, 'done');
      assert.equal(textOf(events), said);
      c.send({ type: 'auth', api_key: s.adminKey });
      assert.equal((await c.next()).code, 'bad_request', 'a second auth is refused, the socket stays');
      c.ws.close();
    });

    test('bad messages get an error event and the socket stays open', async () => {
      const c = await connect(agentId);
      c.send('not json');
      assert.deepEqual(((e) => [e.chunk_type, e.code])(await c.next()), ['error', 'invalid_json']);
      c.send({ type: 'shout' });
      assert.equal((await c.next()).code, 'validation_error');
      c.send({ type: 'chat' });
      assert.equal((await c.next()).code, 'validation_error');
      c.send({ type: 'chat', message: 'x', extra: true });
      assert.equal((await c.next()).code, 'validation_error');
      c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
      assert.equal((await c.next()).code, 'bad_request');
      c.send({ type: 'chat', message: 'x', session_id: '00000000-0000-4000-8000-000000000000' });
      const missing = await c.next();
      assert.equal(missing.code, 'not_found');
      c.send({ type: 'cancel' });
      c.send({ type: 'chat', message: 'still here?' });
      const events = await c.events();
      assert.equal(events.at(-1).chunk_type, 'done');
      assert.equal(c.ws.readyState, WebSocket.OPEN);
      c.ws.close();
    });

    test('cancel stops the running turn: partial answer stored incomplete; the socket goes on', async () => {
      const c = await connect(slowId);
      c.send({ type: 'chat', message: 'long please' });
      const start = await c.next();
      assert.equal(start.chunk_type, 'start');
      let e = await c.next();
      while (e.chunk_type !== 'content') e = await c.next();
      c.send({ type: 'chat', message: 'meanwhile' });
      const rest = await c.events(); // the refused second chat is an error, and it does not end the running turn
      assert.equal(rest.at(-1).code, 'conflict');
      c.send({ type: 'cancel' });
      const end = await c.events();
      const cancelled = end.at(-1);
      assert.equal(cancelled.chunk_type, 'error');
      assert.equal(cancelled.code, 'cancelled');
      assert.equal(cancelled.message_id, start.message_id);
      await waitFor('the answer stored incomplete', async () => (await messagesOf(s, start.session_id))[1]?.status === 'incomplete');
      const stored = await messagesOf(s, start.session_id);
      assert.ok(stored[1].content.length > 0 && stored[1].content.length < slow.length, `partial: ${stored[1].content}`);
      assert.equal(stored[1].content, textOf([e, ...rest, ...end]));

      c.send({ type: 'chat', message: 'again', session_id: start.session_id });
      const again = await c.next();
      assert.equal(again.chunk_type, 'start');
      c.ws.close();
    });

    test('closing the socket aborts the turn and its upstream request', async () => {
      const c = await connect(slowId);
      c.send({ type: 'chat', message: 'close me' });
      const start = await c.next();
      while ((await c.next()).chunk_type !== 'content');
      // (memory extraction calls the model too: find this turn's request by its question)
      const upstream = emu.requests.find((r) => r.path.endsWith('/chat/completions') && chatOf(r).messages.at(-1)!.content === 'close me')!;
      const closedAt = Date.now();
      c.ws.close();
      await waitFor('the upstream request closed', () => upstream.closedAt !== undefined);
      // the answer would run ~10 s more: within half of that is "cut", not "left running" (not a speed target)
      assert.ok(upstream.closedAt! - closedAt < 5_000, `upstream closed ${upstream.closedAt! - closedAt} ms after the socket`);
      await waitFor('the answer stored incomplete', async () => (await messagesOf(s, start.session_id))[1]?.status === 'incomplete');
      assert.equal((await messagesOf(s, start.session_id))[1].error.code, 'client_aborted');
    });

    test('auth and ownership: 401/404 before the upgrade, error + close after it', async () => {
      const other = await createOrg(s.api, `ws-other-${engine}`);
      const theirs = await emuAgent({ text: 'theirs' }, {}, other.key);
      const refused = (id: string, key: string) =>
        new Promise<number>((resolve, reject) => {
          const ws = new WebSocket(wsUrl(id), { headers: { authorization: `Bearer ${key}` } });
          ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
          ws.on('open', () => reject(new Error('upgraded')));
          ws.on('error', () => {});
        });
      assert.equal(await refused(agentId, 'am_wrong'), 401);
      assert.equal(await refused(theirs.id, s.adminKey), 404, 'another org’s agent');
      assert.equal(await refused('nope', s.adminKey), 404);
      assert.equal((await fetch(wsUrl(agentId).replace(/^ws/, 'http'), { headers: { authorization: `Bearer ${s.adminKey}` } })).status, 426);

      const bad = await connect(agentId, null);
      bad.send({ type: 'auth', api_key: 'am_wrong' });
      assert.equal((await bad.next()).code, 'unauthorized');
      assert.equal((await bad.closed).code, 4401);

      const early = await connect(agentId, null);
      early.send({ type: 'chat', message: 'hi' });
      assert.equal((await early.next()).code, 'unauthorized');
      assert.equal((await early.closed).code, 4401);

      const foreign = await connect(theirs.id, null);
      foreign.send({ type: 'auth', api_key: s.adminKey });
      assert.equal((await foreign.next()).code, 'not_found');
      assert.equal((await foreign.closed).code, 4404);
    });
  });
}
