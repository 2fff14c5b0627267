import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { addressProblem, checkTarget, EgressDeniedError, egressDenial, originProblem, parseEgress, publicLookup } from './egress.ts';
import { createPool } from './pool.ts';

test('classifies addresses: what `public` refuses, and why', () => {
  const refused: Array<[string, RegExp]> = [
    ['127.0.0.1', /loopback/],
    ['127.255.0.9', /loopback/],
    ['::1', /loopback/],
    ['0.0.0.0', /unspecified/],
    ['0.1.2.3', /unspecified/],
    ['::', /unspecified/],
    ['10.1.2.3', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['fc00::1', /private/],
    ['fd12:3456::1', /private/],
    ['100.64.0.1', /CGNAT/],
    ['100.127.255.254', /CGNAT/],
    ['169.254.169.254', /metadata/],
    ['fd00:ec2::254', /metadata/],
    ['169.254.1.1', /link-local/],
    ['fe80::1', /link-local/],
    ['febf::1', /link-local/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['ff02::1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['240.0.0.1', /reserved/],
    ['192.0.2.10', /reserved/],
    ['198.18.0.1', /reserved/],
    ['2001:db8::1', /reserved/],
    // IPv4-mapped, in both spellings: judged as the IPv4 address they are
    ['::ffff:127.0.0.1', /loopback/],
    ['::ffff:7f00:1', /loopback/],
    ['::ffff:169.254.169.254', /metadata/],
    ['::ffff:10.0.0.1', /private/],
    // NAT64 and 6to4 carry an IPv4 address too
    ['64:ff9b::7f00:1', /embeds .*loopback/],
    ['2002:a00:1::', /embeds .*private/],
  ];
  for (const [ip, why] of refused) assert.match(addressProblem(ip) ?? '(allowed)', why, ip);
  for (const ip of [
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '169.255.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::',
  ]) {
    assert.equal(addressProblem(ip), undefined, ip);
  }
  assert.match(addressProblem('example.com')!, /not an IP address/);
});

test('parses AGENTMEM_EGRESS: any by default, public, or an allow-list with default ports written out', () => {
  for (const v of [undefined, '', '  ', 'any', 'ANY']) assert.deepEqual(parseEgress(v), { kind: 'any' }, String(v));
  assert.deepEqual(parseEgress('public'), { kind: 'public' });
  assert.deepEqual(parseEgress(' Public '), { kind: 'public' });
  const list = parseEgress('https://API.openai.com, http://10.0.0.5:8000,http://[::1]:9000/,http://localhost');
  assert.equal(list.kind, 'allow');
  assert.deepEqual(
    [...(list as { origins: ReadonlySet<string> }).origins],
    ['https://api.openai.com:443', 'http://10.0.0.5:8000', 'http://[::1]:9000', 'http://localhost:80'],
  );
  assert.throws(() => parseEgress('publik'), /AGENTMEM_EGRESS: "publik" is not an origin/);
  assert.throws(() => parseEgress('ftp://files.example.com'), /must be an http:\/\/ or https:\/\//);
  assert.throws(() => parseEgress('https://api.openai.com/v1'), /origin only/);
  assert.throws(() => parseEgress('https://user:pw@api.openai.com'), /origin only/);
  assert.throws(() => parseEgress('https://api.openai.com?x=1'), /origin only/);
  assert.throws(() => parseEgress(' , '), /allow-list is empty/);
});

test('the allow-list matches scheme, host and port, default ports included', () => {
  const policy = parseEgress('https://api.openai.com,http://10.0.0.5:8000,http://[::1]:9000');
  const ok = (protocol: string, host: string, port: string) => originProblem(policy, protocol, host, port) === undefined;
  assert.ok(ok('https:', 'api.openai.com', ''), 'the default port of https is 443');
  assert.ok(ok('https:', 'api.openai.com', '443'));
  assert.ok(ok('https:', 'API.OpenAI.com', ''), 'hostnames are case-insensitive');
  assert.ok(ok('http:', '10.0.0.5', '8000'));
  assert.ok(ok('http:', '::1', '9000'), 'undici hands IPv6 hosts over without brackets');
  assert.ok(ok('http:', '[::1]', '9000'));
  assert.ok(!ok('http:', 'api.openai.com', ''), 'another scheme is another origin');
  assert.ok(!ok('https:', 'api.openai.com', '8443'), 'another port is another origin');
  assert.ok(!ok('https:', 'evil-api.openai.com', ''));
  assert.ok(!ok('http:', '10.0.0.5', ''), 'port 80 is not 8000');
  assert.ok(!ok('http:', '10.0.0.6', '8000'));
  const denied = originProblem(policy, 'http:', '127.0.0.1', '8000')!;
  assert.ok(denied instanceof EgressDeniedError);
  assert.equal(denied.code, 'egress_denied');
  assert.equal(denied.target, 'http://127.0.0.1:8000');
  assert.match(denied.message, /http:\/\/127\.0\.0\.1:8000 is not in the allow-list/);
  // `public`: IP literals at once; hostnames only once resolved; `any`: nothing
  assert.match(originProblem({ kind: 'public' }, 'http:', '169.254.169.254', '')!.message, /Egress to http:\/\/169\.254\.169\.254:80 .*metadata/);
  assert.equal(originProblem({ kind: 'public' }, 'https:', 'api.openai.com', ''), undefined);
  assert.equal(originProblem({ kind: 'any' }, 'http:', '127.0.0.1', ''), undefined);
});

test('checkTarget (config time): literals, allow-list, and hostnames resolved under public', async () => {
  assert.match((await checkTarget({ kind: 'public' }, 'http://127.0.0.1:1234/v1'))!.reason, /127\.0\.0\.1 is a loopback address/);
  assert.match((await checkTarget({ kind: 'public' }, 'http://[::ffff:10.1.2.3]/v1'))!.reason, /private/);
  // a name: refused by policy, naming the name; what it resolved to is for the server's log only
  const named = (await checkTarget({ kind: 'public' }, 'http://localhost:1234/v1'))!;
  assert.match(
    named.message,
    /^Egress to http:\/\/localhost:1234 is refused by policy \(AGENTMEM_EGRESS\): localhost resolves only to addresses the policy refuses\.$/,
  );
  assert.match(named.detail!, /localhost resolves to .*loopback/);
  assert.equal(await checkTarget({ kind: 'any' }, 'http://127.0.0.1/'), undefined);
  const list = parseEgress('http://127.0.0.1:1234');
  assert.equal(await checkTarget(list, 'http://127.0.0.1:1234/v1/chat'), undefined);
  assert.match((await checkTarget(list, 'http://localhost:1234/v1'))!.reason, /not in the allow-list/);
});

test('publicLookup refuses a name that resolves only to refused addresses, in both lookup forms', async () => {
  const one = await new Promise<unknown>((resolve) => publicLookup('localhost', {}, (err) => resolve(err)));
  assert.ok(one instanceof EgressDeniedError, String(one));
  const all = await new Promise<unknown>((resolve) => publicLookup('localhost', { all: true }, (err) => resolve(err)));
  assert.ok(all instanceof EgressDeniedError);
  assert.match((all as EgressDeniedError).reason, /^localhost resolves only to addresses the policy refuses$/);
  assert.match((all as EgressDeniedError).detail!, /localhost resolves to .*loopback/);
  assert.doesNotMatch((all as EgressDeniedError).message, /127\.0\.0\.1|::1/);
});

describe('the pool enforces the policy when it connects', () => {
  let server: Server;
  let origin: string;
  let accepted = 0;
  before(async () => {
    server = createServer((_req, res) => res.end('ok'));
    server.on('connection', () => accepted++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );

  const get = async (pool: ReturnType<typeof createPool>, url: string) => {
    try {
      const res = await pool.dispatcher.request({ origin: new URL(url).origin, path: '/', method: 'GET' });
      return await res.body.text();
    } catch (err) {
      return err;
    } finally {
      await pool.close();
    }
  };

  test('public: an IP literal and a name resolving to loopback are refused, and nothing connects', async () => {
    const before = accepted;
    const literal = await get(createPool({ egress: { kind: 'public' } }), origin);
    const named = await get(createPool({ egress: { kind: 'public' } }), origin.replace('127.0.0.1', 'localhost'));
    assert.match(egressDenial(literal)?.reason ?? String(literal), /loopback/);
    assert.match(egressDenial(named)?.reason ?? String(named), /localhost resolves only to addresses the policy refuses/);
    assert.doesNotMatch(egressDenial(named)!.message, /127\.0\.0\.1|::1/, 'the refusal does not say what the name resolved to');
    assert.match(egressDenial(named)!.detail!, /loopback/, 'the server keeps the detail');
    assert.equal(egressDenial(named)!.target, origin.replace('127.0.0.1', 'localhost'), 'the refusal names the origin');
    assert.equal(accepted, before, 'the server accepted no connection');
  });

  test('allow-list: the listed origin connects, another origin of the same server does not', async () => {
    const before = accepted;
    assert.equal(await get(createPool({ egress: parseEgress(origin) }), origin), 'ok');
    assert.equal(accepted, before + 1);
    const other = await get(createPool({ egress: parseEgress(origin) }), origin.replace('127.0.0.1', 'localhost'));
    assert.match(egressDenial(other)?.reason ?? String(other), /not in the allow-list/);
    assert.equal(accepted, before + 1, 'the refused origin opened no connection');
  });

  test('any: connects as before', async () => {
    assert.equal(await get(createPool({ egress: { kind: 'any' } }), origin), 'ok');
    assert.equal(await get(createPool(), origin), 'ok');
  });
});
