// The invalidation bus on a real Redis: deployments with different prefixes do not hear
// each other; a bus behind a connection that silently stops carrying traffic (no close,
// no error) stops trusting its caches within its heartbeat limit, and clears them when
// traffic flows again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { waitFor } from '../../test/wait.ts';
import { createInvalidationBus, type BusEvent } from './invalidation.ts';

const redisUrl = process.env.AGENTMEM_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const skip = redisUrl === 'none' && 'needs Redis';

/** How long `check` took to hold (ms). */
async function until(what: string, check: () => boolean, timeoutMs = 5_000) {
  const t0 = performance.now();
  await waitFor(what, check, { timeoutMs });
  return performance.now() - t0;
}

test('two deployments sharing one Redis (different prefixes) do not clear each other', { skip }, async () => {
  const [p1, p2] = [`agentmem-test:${randomBytes(4).toString('hex')}:`, `agentmem-test:${randomBytes(4).toString('hex')}:`];
  const [one, sameDeployment, other] = [
    createInvalidationBus(redisUrl, { prefix: p1 }),
    createInvalidationBus(redisUrl, { prefix: p1 }),
    createInvalidationBus(redisUrl, { prefix: p2 }),
  ];
  try {
    const heard = { same: [] as string[], other: [] as string[] };
    // ('*' is each bus clearing its own caches once it first hears the channel)
    sameDeployment.subscribe('agent', (id) => id !== '*' && heard.same.push(id));
    other.subscribe('agent', (id) => id !== '*' && heard.other.push(id));
    await Promise.all([one.ready(), sameDeployment.ready(), other.ready()]);
    one.publish('agent', 'a1');
    await until('the same deployment hears it', () => heard.same.includes('a1'));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(heard.other, [], 'another prefix hears nothing');
  } finally {
    await Promise.all([one.close(), sameDeployment.close(), other.close()]);
  }
});

/** A TCP proxy to Redis that can stop forwarding without closing anything (a silent partition). */
async function freezableProxy(target: URL) {
  let frozen = false;
  const held: Array<() => void> = [];
  const pipe = (from: Socket, to: Socket) =>
    from.on('data', (d) => {
      if (!frozen) return void to.write(d);
      held.push(() => to.write(d));
    });
  const server = createServer((client) => {
    const upstream = createConnection(Number(target.port || 6379), target.hostname);
    pipe(client, upstream);
    pipe(upstream, client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `redis://127.0.0.1:${(server.address() as { port: number }).port}`,
    freeze: () => void (frozen = true),
    thaw() {
      frozen = false;
      for (const send of held.splice(0)) send();
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test('a silent partition: caches are bypassed within the heartbeat limit, cleared when traffic returns', { skip }, async () => {
  const proxy = await freezableProxy(new URL(redisUrl));
  const prefix = `agentmem-test:${randomBytes(4).toString('hex')}:`;
  const events: BusEvent['type'][] = [];
  const bus = createInvalidationBus(proxy.url, { prefix, heartbeatMs: 100, deafAfterMs: 500, onEvent: (e) => events.push(e.type) });
  const direct = createInvalidationBus(redisUrl, { prefix });
  try {
    const cleared: string[] = [];
    bus.subscribe('api_key', (id) => cleared.push(id));
    await Promise.all([bus.ready(), direct.ready()]);
    await until('trusted', () => bus.trusted());
    const epoch = bus.epoch();
    cleared.length = 0; // (the clear on first connect)

    proxy.freeze();
    const deaf = await until('not trusted once its heartbeat stops coming back', () => !bus.trusted(), 3_000);
    assert.ok(deaf < 2_000, `noticed in ${deaf.toFixed(0)} ms`);
    assert.notEqual(bus.epoch(), epoch);
    direct.publish('api_key', 'revoked-while-deaf');

    proxy.thaw();
    await until('trusted again', () => bus.trusted(), 3_000);
    assert.ok(cleared.includes('*'), `every cache cleared before trusting again: ${JSON.stringify(cleared)}`);
    assert.deepEqual(
      events.filter((e) => e !== 'error'),
      ['down', 'up'],
    );
  } finally {
    await Promise.all([bus.close(), direct.close()]);
    await proxy.close();
  }
});
