// What a body may be, over HTTP and WebSocket on both engines: an empty JSON body where
// the route takes none; invalid UTF-8 refused (never decoded to U+FFFD); a blank chat
// message refused on every chat surface, before anything is stored or sent upstream.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { engines, startServer, type ChatEventLike, type TestServer } from './harness.ts';

const BLANKS = [' ', '\n\t ', '\u3000'];

for (const engine of engines) {
  describe(`inputs on ${engine}`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(engine);
    });
    after(async () => {
      await s?.close();
    });

    const send = (method: string, path: string, body?: Uint8Array | string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      fetch(s.url + path, { method, headers: { authorization: `Bearer ${s.adminKey}`, ...headers }, body: body as BodyInit | undefined });

    test('a DELETE with content-type application/json and no body is accepted; a route that takes a body still needs one', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'to delete' } })).body;
      const user = (await s.api('POST', '/api/v1/users', { body: { id: 'bodyless' } })).body;
      assert.equal((await send('DELETE', `/api/v1/agents/${agent.id}`)).status, 204);
      assert.equal((await send('DELETE', `/api/v1/users/${user.id}`, '')).status, 200);
      assert.equal((await s.api('GET', `/api/v1/agents/${agent.id}`)).status, 404, 'it was deleted');
      const empty = await send('POST', '/api/v1/agents', '');
      assert.deepEqual([empty.status, (await empty.json()).error.code], [400, 'invalid_json']);
      const blank = await send('POST', '/api/v1/agents', ' \n');
      assert.deepEqual([blank.status, (await blank.json()).error.code], [400, 'invalid_json']);
    });

    test('invalid UTF-8 in a JSON body is a 400, so two byte strings never become one user id', async () => {
      const body = (id: Buffer) => Buffer.concat([Buffer.from('{"id":"'), id, Buffer.from('"}')]);
      for (const bad of [Buffer.from([0x61, 0xff]), Buffer.from([0x61, 0xfe]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80])]) {
        const r = await send('POST', '/api/v1/users', body(bad));
        const json = await r.json();
        assert.deepEqual([r.status, json.error.code], [400, 'bad_request'], `bytes ${bad.toString('hex')}`);
        assert.match(json.error.message, /UTF-8/);
      }
      assert.equal((await s.api('GET', `/api/v1/users/${encodeURIComponent('a\ufffd')}`)).status, 404, 'nothing was stored as U+FFFD');
      const ok = await send('POST', '/api/v1/users', body(Buffer.from('a\u00e9\u4f60\ud83d\ude00')));
      assert.equal(ok.status, 201, 'valid multi-byte UTF-8 passes');
      assert.equal((await ok.json()).id, 'a\u00e9\u4f60\ud83d\ude00');
    });

    test('a blank chat message is a 400 on every chat surface, and nothing is stored', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'blank' } })).body;
      for (const message of BLANKS) {
        for (const path of ['chat', 'chat/stream']) {
          const r = await s.api('POST', `/api/v1/agents/${agent.id}/${path}`, { body: { message } });
          assert.deepEqual([r.status, r.body.error?.code], [400, 'validation_error'], `${path} ${JSON.stringify(message)}`);
          assert.match(r.body.error.message, /blank/);
        }
        const ui = await s.api('POST', `/api/v1/agents/${agent.id}/chat/ui`, {
          body: { messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: message }] }] },
        });
        assert.deepEqual([ui.status, ui.body.error?.code], [400, 'validation_error'], `ui ${JSON.stringify(message)}`);
        const openai = await s.api('POST', '/v1/chat/completions', { body: { model: agent.id, messages: [{ role: 'user', content: message }] } });
        assert.equal(openai.status, 400, `openai ${JSON.stringify(message)}`);
        assert.match(openai.body.error.message, /blank/);
      }
      const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/v1/agents/${agent.id}/chat/ws`, { headers: { authorization: `Bearer ${s.adminKey}` } });
      const reply = new Promise<ChatEventLike>((resolve, reject) => {
        ws.once('message', (d) => resolve(JSON.parse(d.toString()) as ChatEventLike));
        ws.once('error', reject);
      });
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ type: 'chat', message: ' \n ' }));
      const e = await reply;
      ws.close();
      assert.deepEqual([e.chunk_type, e.code], ['error', 'validation_error']);
      assert.deepEqual((await s.api('GET', `/api/v1/agents/${agent.id}/sessions`)).body.data, [], 'no session, no message stored');
      // A message with text around the spaces is fine.
      assert.equal((await s.api('POST', `/api/v1/agents/${agent.id}/chat`, { body: { message: '  hi  ' } })).status, 200);
    });
  });
}
