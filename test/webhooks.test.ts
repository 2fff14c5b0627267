// Signed webhooks over real sockets, on both engines: a real HTTP receiver on 127.0.0.1
// verifies every delivery with a third-party verifier (the `standardwebhooks` package), for
// each event kind; 500s are retried with backoff under the same webhook-id; a redirect is
// not followed; a hanging endpoint holds neither another endpoint's deliveries nor a chat
// turn, and never more than its own slots; the egress policy refuses an endpoint; secrets
// are shown once and never echoed; two instances on one database send each delivery once.
// A kill -9 mid-delivery is test/webhooks-crash.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { parseEgress } from '../src/llm/egress.ts';
import { createTestDatabase, engines, freePort, startServer, streamChat, waitFor, type TestServer } from './harness.ts';

const fast = { provider: 'simulated', simulated: { first_token_ms: 0, tokens_per_s: 0 } };
const ALL = ['memory.created', 'memory.updated', 'memory.deleted', 'session.summarized', 'import.completed', 'working_memory.updated'];

import { events, startReceiver, type Receiver } from './webhook-receiver.ts';

/** A webhook delivery as `GET /api/v1/webhooks/:id/deliveries` lists it. */
interface Delivery {
  id: string;
  event: string;
  status: string;
  attempts: number;
  last_status: number | null;
}

for (const engine of engines) {
  describe(`webhooks on ${engine}`, () => {
    let rx: Receiver;
    let s: TestServer;
    let examplePort: number;

    before(async () => {
      rx = await startReceiver();
      examplePort = await freePort();
      // Only the receivers' origins are allowed out: any other endpoint is refused.
      s = await startServer(engine, {
        egress: parseEgress(`${rx.url},http://127.0.0.1:${examplePort}`),
        webhookPollMs: 50,
        webhookBackoffMs: 200,
        webhookMaxAttempts: 4,
        // longer than any test here: a hanging endpoint's requests stay open, not retried
        webhookTimeoutMs: 60_000,
      });
    });
    after(async () => {
      rx.release();
      await s?.close();
      await rx?.close();
    });

    const create = async (path: string, subscribe = ALL) => {
      const res = await s.api('POST', '/api/v1/webhooks', { body: { url: rx.url + path, events: subscribe, description: path } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as { id: string; secret: string; url: string };
    };

    test('every event kind arrives signed; the standardwebhooks verifier accepts each, and refuses another secret', async () => {
      const ep = await create('/all');
      assert.match(ep.secret, /^whsec_[A-Za-z0-9+/]+=*$/);
      const agent = (
        await s.api('POST', '/api/v1/agents', {
          body: { name: 'hooks', llm: fast, memory: { extract: false, last_messages: 100, summary: { enabled: true, trigger_tokens: 300 } } },
        })
      ).body;
      const memory = (await s.api('POST', '/api/v1/memories', { body: { content: 'Ada likes tea', agent_id: agent.id, user_id: 'ada', metadata: { k: 1 } } }))
        .body;
      assert.equal((await s.api('PATCH', `/api/v1/memories/${memory.id}`, { body: { content: 'Ada likes green tea' } })).status, 200);
      assert.equal((await s.api('DELETE', `/api/v1/memories/${memory.id}`)).status, 204);
      assert.equal((await s.api('PUT', `/api/v1/agents/${agent.id}/working-memory/ada`, { body: { content: 'Prefers tea.' } })).status, 200);
      const imported = await s.api('POST', '/api/v1/sessions/import', {
        body: { agent_id: agent.id, user_id: 'ada', messages: [{ role: 'user', content: 'hello', created_at: '2024-01-01T00:00:00Z' }] },
      });
      assert.equal(imported.status, 201, JSON.stringify(imported.body));
      const filler = 'The quick brown fox jumps over the lazy dog. '.repeat(12);
      const first = await streamChat(s, agent.id, { message: `My name is Ada. ${filler}`, user_id: 'ada' });
      const session = first.events[0].session_id;
      for (let i = 1; i < 5; i++) await streamChat(s, agent.id, { message: `Fact ${i}. ${filler}`, session_id: session });

      await rx.until(() => new Set(events(rx, '/all').map((e) => e.payload.type)).size === ALL.length, 'one event of each kind');
      const wh = new Webhook(ep.secret);
      const other = new Webhook('whsec_' + Buffer.alloc(24, 7).toString('base64'));
      for (const e of events(rx, '/all')) {
        const verified = wh.verify(e.body, e.headers) as { type: string };
        assert.equal(verified.type, e.payload.type);
        assert.match(e.headers['webhook-id']!, /^msg_[0-9a-f]{32}$/);
        assert.throws(() => other.verify(e.body, e.headers), /signature/i, 'another secret does not verify');
        assert.throws(() => wh.verify(e.body.replace('}', ' }'), e.headers), /signature/i, 'a changed body does not verify');
      }
      const by = (type: string) => events(rx, '/all').find((e) => e.payload.type === type)!.payload;
      assert.deepEqual(
        [by('memory.created').data.id, by('memory.created').data.content, by('memory.created').data.user_id, by('memory.created').data.metadata],
        [memory.id, 'Ada likes tea', 'ada', { k: 1 }],
      );
      assert.deepEqual([by('memory.updated').data.content, by('memory.updated').data.previous.content], ['Ada likes green tea', 'Ada likes tea']);
      assert.deepEqual(by('memory.deleted').data, { id: memory.id, agent_id: agent.id, user_id: 'ada', source: 'api' });
      assert.deepEqual([by('working_memory.updated').data.content, by('working_memory.updated').data.owner], ['Prefers tea.', 'ada']);
      assert.deepEqual(
        [by('import.completed').data.kind, by('import.completed').data.session_id, by('import.completed').data.messages],
        ['session', imported.body.session_id, 1],
      );
      assert.equal(by('session.summarized').data.session_id, session);
      assert.match(by('session.summarized').data.summary, /My name is Ada/);

      // Listed with their status and attempts (the worker records an answer just after the receiver sent it).
      const receivedIds = ALL.map((type) => events(rx, '/all').find((e) => e.payload.type === type)!.headers['webhook-id']);
      const listed: Delivery[] = await waitFor(
        'each received event listed as delivered',
        async () => {
          const data: Delivery[] = (await s.api('GET', `/api/v1/webhooks/${ep.id}/deliveries?status=delivered&limit=100`)).body.data;
          return receivedIds.every((id) => data.some((d) => d.id === id)) && data;
        },
        { intervalMs: 100 },
      );
      assert.ok(listed.every((d) => d.status === 'delivered' && d.attempts === 1 && d.last_status === 200));
      assert.equal((await s.api('DELETE', `/api/v1/webhooks/${ep.id}`)).status, 204);
    });

    test('the documented receiver (docs/examples/webhook-receiver.mjs) verifies a delivery and prints it', async () => {
      const ep = (await s.api('POST', '/api/v1/webhooks', { body: { url: `http://127.0.0.1:${examplePort}/agentmem`, events: ['working_memory.updated'] } }))
        .body;
      const child = spawn(process.execPath, [new URL('../docs/examples/webhook-receiver.mjs', import.meta.url).pathname], {
        env: { ...process.env, WEBHOOK_SECRET: ep.secret, PORT: String(examplePort) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      try {
        let out = '';
        child.stdout!.on('data', (d) => (out += d));
        await new Promise<void>((resolve, reject) => {
          child.stderr!.on('data', (d) => String(d).includes('listening') && resolve());
          child.once('exit', (code) => reject(new Error(`the example exited (${code})`)));
        });
        const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'example', llm: fast } })).body;
        await s.api('PUT', `/api/v1/agents/${agent.id}/working-memory/ada`, { body: { content: 'Likes the docs.' } });
        await waitFor('the example printed the delivery', () => out.includes('\n'), { timeoutMs: 30_000 });
        const printed = JSON.parse(out.split('\n')[0]!);
        assert.deepEqual([printed.type, printed.data.content, printed.data.agent_id], ['working_memory.updated', 'Likes the docs.', agent.id]);
        // recorded once the worker has the answer, a moment after the receiver printed
        const d = await waitFor('the delivery recorded', async () => {
          const first = (await s.api('GET', `/api/v1/webhooks/${ep.id}/deliveries`)).body.data[0];
          return first?.status === 'delivered' && first;
        });
        assert.deepEqual([d.id, d.status, d.last_status], [printed.id, 'delivered', 204]);
      } finally {
        child.kill();
        await s.api('DELETE', `/api/v1/webhooks/${ep.id}`);
      }
    });

    test('an event filter: an endpoint gets only what it subscribed to', async () => {
      await create('/only-deleted', ['memory.deleted']);
      const memory = (await s.api('POST', '/api/v1/memories', { body: { content: 'filtered' } })).body;
      await s.api('DELETE', `/api/v1/memories/${memory.id}`);
      await rx.until(() => events(rx, '/only-deleted').length >= 1, 'the deleted event');
      // the created event was written before the deleted one: had it been sent, it would be here
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(
        events(rx, '/only-deleted').map((e) => e.payload.type),
        ['memory.deleted'],
      );
    });

    test('500s are retried with growing delays under the same webhook-id, then delivered; a redirect is not followed', async () => {
      const tries = new Map<string, number>();
      rx.on('/flaky', (r, res) => {
        const n = (tries.get(r.headers['webhook-id']!) ?? 0) + 1;
        tries.set(r.headers['webhook-id']!, n);
        res.writeHead(n <= 2 ? 500 : 204).end();
      });
      rx.on('/moved', (_r, res) => res.writeHead(302, { location: `${rx.url}/landing` }).end());
      const flaky = await create('/flaky', ['memory.created']);
      const moved = await create('/moved', ['memory.created']);
      await s.api('POST', '/api/v1/memories', { body: { content: 'retry me' } });
      await rx.until(() => events(rx, '/flaky').length === 3, 'three attempts');
      const attempts = events(rx, '/flaky');
      assert.equal(new Set(attempts.map((a) => a.headers['webhook-id'])).size, 1, 'one webhook-id for every attempt');
      assert.equal(new Set(attempts.map((a) => a.body)).size, 1, 'the same body every time');
      for (const a of attempts) new Webhook(flaky.secret).verify(a.body, a.headers);
      // next_at = the failure + 200 ms, then + 400 ms: lower bounds, whatever the machine's speed
      assert.ok(attempts[1]!.at - attempts[0]!.at >= 200, `first retry after ≥ 200 ms: ${attempts[1]!.at - attempts[0]!.at}`);
      assert.ok(attempts[2]!.at - attempts[1]!.at >= 400, `second retry after ≥ 400 ms: ${attempts[2]!.at - attempts[1]!.at}`);
      const waitStatus = (id: string, status: string) =>
        waitFor(
          `a ${status} delivery`,
          async () => {
            const d = (await s.api('GET', `/api/v1/webhooks/${id}/deliveries`)).body.data[0];
            return d?.status === status && d;
          },
          { timeoutMs: 15_000, intervalMs: 50 },
        );
      const d = await waitStatus(flaky.id, 'delivered');
      assert.deepEqual([d.attempts, d.last_status], [3, 204]);
      // The redirect: every attempt answered 302, none followed; failed after max attempts.
      const failed = await waitStatus(moved.id, 'failed');
      assert.deepEqual([failed.attempts, failed.last_status], [4, 302]);
      assert.equal(events(rx, '/landing').length, 0, 'the Location was never requested');
      // Redelivered on request: same id, now answered.
      rx.on('/moved', (_r, res) => res.writeHead(200).end());
      const again = await s.api('POST', `/api/v1/webhooks/${moved.id}/deliveries/${failed.id}/redeliver`);
      assert.equal(again.status, 202, JSON.stringify(again.body));
      await waitStatus(moved.id, 'delivered');
      assert.equal(events(rx, '/moved').at(-1)!.headers['webhook-id'], failed.id);
      for (const ep of [flaky, moved]) await s.api('DELETE', `/api/v1/webhooks/${ep.id}`);
    });

    test("a hanging endpoint holds at most its own two slots: another endpoint's deliveries and a chat turn go on", async () => {
      rx.hold('/hang');
      const hang = await create('/hang', ['memory.created']);
      const quick = await create('/quick', ['memory.created']);
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push((await s.api('POST', '/api/v1/memories', { body: { content: `note ${i}` } })).body.id);
      await rx.until(() => events(rx, '/quick').length === 6, 'all six at the quick endpoint');
      await rx.until(() => events(rx, '/hang').length >= 2, 'the hanging endpoint holding two');
      const agent = (await s.api('POST', '/api/v1/agents', { body: { name: 'chat', llm: fast } })).body;
      const turn = await streamChat(s, agent.id, { message: 'still here?' });
      assert.equal(turn.events.at(-1).chunk_type, 'done', 'a chat turn finished while the endpoint hangs');
      assert.equal(events(rx, '/hang').length, 2, 'two requests open there, the other four wait their turn');
      assert.deepEqual(
        events(rx, '/quick').map((e) => e.payload.data.id),
        ids,
      );
      rx.release();
      rx.on('/hang', (_r, res) => res.writeHead(200).end());
      await rx.until(() => new Set(events(rx, '/hang').map((e) => e.payload.data.id)).size === 6, 'the six at the released endpoint');
      assert.ok(rx.maxOpen('/hang') <= 2, `at most two requests open at once to one endpoint: ${rx.maxOpen('/hang')}`);
      for (const ep of [hang, quick]) await s.api('DELETE', `/api/v1/webhooks/${ep.id}`);
    });

    test('the egress policy refuses an endpoint outside it, at create and at update', async () => {
      for (const url of ['http://127.0.0.1:9/hook', 'http://169.254.169.254/latest', 'https://example.com/hook']) {
        const res = await s.api('POST', '/api/v1/webhooks', { body: { url, events: ['memory.created'] } });
        assert.equal(res.status, 400, url);
        assert.equal(res.body.error.code, 'egress_denied');
      }
      const ep = await create('/fine', ['memory.created']);
      const moved = await s.api('PATCH', `/api/v1/webhooks/${ep.id}`, { body: { url: 'http://127.0.0.1:9/hook' } });
      assert.deepEqual([moved.status, moved.body.error.code], [400, 'egress_denied']);
      assert.equal((await s.api('GET', `/api/v1/webhooks/${ep.id}`)).body.url, `${rx.url}/fine`);
      const bad = await s.api('POST', '/api/v1/webhooks', { body: { url: `${rx.url}/x`, events: ['memory.exploded'] } });
      assert.deepEqual([bad.status, bad.body.error.code], [400, 'validation_error']);
      await s.api('DELETE', `/api/v1/webhooks/${ep.id}`);
    });

    test('a secret is shown at creation and rotation only, never echoed; the rotated one signs from then on', async () => {
      const ep = await create('/secret', ['memory.created']);
      const answers = [
        await s.api('GET', '/api/v1/webhooks'),
        await s.api('GET', `/api/v1/webhooks/${ep.id}`),
        await s.api('PATCH', `/api/v1/webhooks/${ep.id}`, { body: { description: 'same origin', url: `${rx.url}/secret?v=2` } }),
        await s.api('GET', `/api/v1/webhooks/${ep.id}/deliveries`),
      ];
      for (const a of answers) {
        assert.equal(a.status, 200);
        const text = JSON.stringify(a.body);
        assert.ok(!text.includes(ep.secret) && !text.includes('whsec_') && !text.includes('"secret"'), text.slice(0, 300));
      }
      const rotated = (await s.api('POST', `/api/v1/webhooks/${ep.id}/rotate-secret`)).body;
      assert.match(rotated.secret, /^whsec_/);
      assert.notEqual(rotated.secret, ep.secret);
      await s.api('POST', '/api/v1/memories', { body: { content: 'after rotation' } });
      await rx.until(() => events(rx, '/secret?v=2').length === 1, 'a delivery after the rotation');
      const e = events(rx, '/secret?v=2')[0]!;
      new Webhook(rotated.secret).verify(e.body, e.headers);
      assert.throws(() => new Webhook(ep.secret).verify(e.body, e.headers), /signature/i, 'the old secret no longer signs');
      // Moved to another origin: a new secret (the old one never signs for the new origin), shown in that answer.
      const moved = (await s.api('PATCH', `/api/v1/webhooks/${ep.id}`, { body: { url: `http://127.0.0.1:${examplePort}/moved` } })).body;
      assert.match(moved.secret, /^whsec_/);
      assert.ok(![ep.secret, rotated.secret].includes(moved.secret));
      await s.api('DELETE', `/api/v1/webhooks/${ep.id}`);
    });

    test('forgetting a user deletes the deliveries about them and reports their memories deleted, ids only', async () => {
      const ep = await create('/forget', ['memory.created', 'memory.deleted']);
      rx.hold('/forget');
      await s.api('POST', '/api/v1/users', { body: { id: 'gone' } });
      const m = (await s.api('POST', '/api/v1/memories', { body: { content: 'secret of gone', user_id: 'gone' } })).body;
      await s.api('POST', '/api/v1/memories', { body: { content: 'pending text of gone', user_id: 'gone' } });
      assert.equal((await s.api('DELETE', '/api/v1/users/gone')).status, 200);
      rx.on('/forget', (_r, res) => res.writeHead(200).end());
      rx.release();
      await rx.until(() => events(rx, '/forget').filter((e) => e.payload.type === 'memory.deleted').length === 2, 'two deleted events');
      const listed = (await s.api('GET', `/api/v1/webhooks/${ep.id}/deliveries?limit=100`)).body.data;
      assert.deepEqual(
        listed.map((d: Delivery) => d.event),
        ['memory.deleted', 'memory.deleted'],
        'the created deliveries (with the text) were deleted',
      );
      const deleted = events(rx, '/forget').filter((e) => e.payload.type === 'memory.deleted');
      assert.ok(deleted.some((e) => e.payload.data.id === m.id && e.payload.data.source === 'forget_user'));
      assert.ok(deleted.every((e) => !e.body.includes('of gone')));
      await s.api('DELETE', `/api/v1/webhooks/${ep.id}`);
    });
  });

  if (engine === 'postgres')
    describe('two instances on one database', () => {
      test('both instances claim from one outbox, and each delivery is sent once (leases with SKIP LOCKED)', async () => {
        const rx = await startReceiver();
        const database = await createTestDatabase('postgres');
        const shared = { databaseUrl: database.url, secretKey: 'webhook-two-instances-secret-key', webhookPollMs: 20 };
        const a = await startServer('postgres', shared);
        const b = await startServer('postgres', shared);
        try {
          // Slow answers keep many deliveries due at once, so both workers claim side by side.
          rx.on('/both', (_r, res) => setTimeout(() => res.writeHead(200).end(), 30));
          const eps: Array<{ secret: string }> = [];
          for (let i = 0; i < 4; i++) eps.push((await a.api('POST', '/api/v1/webhooks', { body: { url: `${rx.url}/both`, events: ['memory.created'] } })).body);
          const batch = Array.from({ length: 40 }, (_, i) => ({ content: `shared ${i}` }));
          assert.equal((await a.api('POST', '/api/v1/memories/batch', { body: { memories: batch } })).status, 201);
          await rx.until(() => events(rx, '/both').length >= 160, '160 deliveries');
          await new Promise((r) => setTimeout(r, 500)); // a second send of any of them would be here by now
          const ids = events(rx, '/both').map((e) => e.headers['webhook-id']);
          assert.equal(ids.length, 160, 'no delivery sent twice');
          assert.equal(new Set(ids).size, 160);
          const verified = events(rx, '/both').filter((e) =>
            eps.some((ep) => {
              try {
                new Webhook(ep.secret).verify(e.body, e.headers);
                return true;
              } catch {
                return false;
              }
            }),
          );
          assert.equal(verified.length, 160, 'instance B signs with the secret A sealed (one AGENTMEM_SECRET_KEY)');
        } finally {
          await a.close();
          await b.close();
          await rx.close();
          await database.drop();
        }
      });
    });
}
