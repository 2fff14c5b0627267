// Where agentmem may send traffic (AGENTMEM_EGRESS): `any`, `public` (no loopback,
// private, link-local, metadata or reserved address) or an allow-list of origins.
// It is enforced when a connection is made — on the address the name resolved to —
// so a name that resolves to a public address at config time and to 127.0.0.1 later
// (DNS rebinding) is still refused. `egressConnector` is that check for the app's one
// undici Agent (src/llm/pool.ts); `checkTarget` is the same rule for a URL in a config.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { lookup as dnsLookupAsync } from 'node:dns/promises';
import { BlockList, isIP, isIPv6, type LookupFunction } from 'node:net';
import { buildConnector } from 'undici';

export type EgressPolicy =
  | { kind: 'any' }
  | { kind: 'public' }
  /** origins as `protocol//host:port`, the port always written out */
  | { kind: 'allow'; origins: ReadonlySet<string> };

/**
 * A connection (or a configured target) the egress policy refuses. Never retried. Its
 * message reaches the tenant (API answers, stream errors, tool results), so it names only
 * what the tenant gave — never what a host name resolved to, which would map the
 * operator's internal network for anyone who may configure an agent.
 */
export class EgressDeniedError extends Error {
  readonly code = 'egress_denied';
  constructor(
    /** the origin refused, e.g. http://127.0.0.1:8000 */
    readonly target: string,
    /** why, in the tenant's terms, e.g. "127.0.0.1 is a loopback address" */
    readonly reason: string,
    /** the addresses a name resolved to and why each is refused: for the server's log only */
    readonly detail?: string,
  ) {
    super(`Egress to ${target} is refused by policy (AGENTMEM_EGRESS): ${reason}.`);
    this.name = 'EgressDeniedError';
  }
}

/** The reason a refused host name gets: the name given, not the addresses it resolved to. */
const resolvedRefusal = (hostname: string) => `${hostname} resolves only to addresses the policy refuses`;

/** The policy from AGENTMEM_EGRESS; unset or empty is `any`. Throws on anything unreadable. */
export function parseEgress(value: string | undefined): EgressPolicy {
  const v = (value ?? '').trim();
  if (v === '' || v.toLowerCase() === 'any') return { kind: 'any' };
  if (v.toLowerCase() === 'public') return { kind: 'public' };
  const origins = new Set<string>();
  for (const entry of v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new Error(`AGENTMEM_EGRESS: "${entry}" is not an origin (expected any, public, or origins like https://api.openai.com,http://10.0.0.5:8000)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`AGENTMEM_EGRESS: "${entry}" must be an http:// or https:// origin`);
    if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
      throw new Error(`AGENTMEM_EGRESS: "${entry}" must be an origin only (scheme://host[:port]), without path, query or credentials`);
    }
    origins.add(originKey(url.protocol, url.hostname, url.port));
  }
  if (!origins.size) throw new Error('AGENTMEM_EGRESS: the allow-list is empty');
  return { kind: 'allow', origins };
}

/** `protocol//host:port` with the default port written out and the host as URL normalizes it. */
export function originKey(protocol: string, hostname: string, port: string | number | undefined): string {
  const host = isIPv6(hostname) ? `[${hostname}]` : hostname;
  const p = port === undefined || port === '' ? (protocol === 'https:' ? '443' : '80') : String(port);
  // URL lowercases and canonicalizes (IPv6 compressed, trailing dot kept as given).
  const url = new URL(`${protocol}//${host}`);
  return `${url.protocol}//${url.hostname}:${p}`;
}

// Address ranges that `public` refuses, with the reason a user reads. Checked in order
// (the metadata address before the link-local range it is in). A BlockList also matches
// IPv4-mapped IPv6 (::ffff:127.0.0.1) against the IPv4 ranges.
const RANGES: Array<[label: string, subnets: Array<[string, number]>]> = [
  [
    'a cloud metadata address',
    [
      ['169.254.169.254', 32],
      ['169.254.170.2', 32],
      ['fd00:ec2::254', 128],
      ['100.100.100.200', 32],
    ],
  ],
  [
    'a loopback address',
    [
      ['127.0.0.0', 8],
      ['::1', 128],
    ],
  ],
  [
    'an unspecified address',
    [
      ['0.0.0.0', 8],
      ['::', 128],
    ],
  ],
  [
    'a private address',
    [
      ['10.0.0.0', 8],
      ['172.16.0.0', 12],
      ['192.168.0.0', 16],
      ['fc00::', 7],
      ['fec0::', 10],
    ],
  ],
  ['a shared (CGNAT) address', [['100.64.0.0', 10]]],
  [
    'a link-local address',
    [
      ['169.254.0.0', 16],
      ['fe80::', 10],
    ],
  ],
  ['a broadcast address', [['255.255.255.255', 32]]],
  [
    'a multicast address',
    [
      ['224.0.0.0', 4],
      ['ff00::', 8],
    ],
  ],
  [
    'a reserved address',
    [
      ['192.0.0.0', 24],
      ['192.0.2.0', 24],
      ['192.88.99.0', 24],
      ['198.18.0.0', 15],
      ['198.51.100.0', 24],
      ['203.0.113.0', 24],
      ['240.0.0.0', 4],
      // IPv4-compatible (deprecated), discard-only, local-use NAT64, documentation
      ['::', 96],
      ['100::', 64],
      ['64:ff9b:1::', 48],
      ['2001:db8::', 32],
    ],
  ],
];

const BLOCKS = RANGES.map(([label, subnets]) => {
  const list = new BlockList();
  for (const [net, prefix] of subnets) list.addSubnet(net, prefix, isIPv6(net) ? 'ipv6' : 'ipv4');
  return { label, list };
});

/** Why `public` refuses this IP address, or undefined when it is a public address. */
export function addressProblem(ip: string): string | undefined {
  const family = isIP(ip);
  if (!family) return `${ip} is not an IP address`;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  for (const { label, list } of BLOCKS) if (list.check(ip, type)) return `${ip} is ${label}`;
  // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address: judge that one.
  const embedded = family === 6 ? embeddedIPv4(ip) : undefined;
  if (embedded) {
    const inner = addressProblem(embedded);
    if (inner) return `${ip} embeds ${inner}`;
  }
  return undefined;
}

/** The IPv4 address inside a NAT64 or 6to4 IPv6 address. */
function embeddedIPv4(ip: string): string | undefined {
  const g = ipv6Groups(ip);
  if (!g) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return v4(g[6]!, g[7]!);
  if (g[0] === 0x2002) return v4(g[1]!, g[2]!);
  return undefined;
}

/** The eight 16-bit groups of an IPv6 address (a dotted IPv4 tail included). */
function ipv6Groups(ip: string): number[] | undefined {
  let s = ip.split('%')[0]!;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    s = s.slice(0, dotted.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((x) => parseInt(x, 16)) : []);
  const h = parse(head);
  const t = parse(tail);
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  return groups.length === 8 && groups.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff) ? groups : undefined;
}

/**
 * What can be judged without DNS: the allow-list, and an IP-literal host under `public`.
 * Hostnames under `public` are judged on their resolved addresses (`checkTarget`, the connector).
 */
export function originProblem(policy: EgressPolicy, protocol: string, hostname: string, port: string | number | undefined): EgressDeniedError | undefined {
  if (policy.kind === 'any') return undefined;
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  const key = originKey(protocol, host, port);
  if (policy.kind === 'allow') return policy.origins.has(key) ? undefined : new EgressDeniedError(key, `${key} is not in the allow-list`);
  if (isIP(host)) {
    const problem = addressProblem(host);
    if (problem) return new EgressDeniedError(key, problem);
  }
  return undefined;
}

// getaddrinfo has no timeout of its own; a config check does not wait on a hung resolver
// for long (the connect-time check still applies when the target is used).
const CONFIG_LOOKUP_MS = 1_500;

/**
 * A configured URL against the policy, at config time: IP literals and the allow-list at
 * once, a hostname under `public` by resolving it (every address). A name that does not
 * resolve now is let through: it is judged again, by address, whenever it is used.
 */
export async function checkTarget(policy: EgressPolicy, target: string): Promise<EgressDeniedError | undefined> {
  if (policy.kind === 'any') return undefined;
  const url = new URL(target);
  const denied = originProblem(policy, url.protocol, url.hostname, url.port);
  if (denied || policy.kind === 'allow' || isIP(url.hostname.replace(/^\[(.*)\]$/, '$1'))) return denied;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const addresses = await Promise.race([
    dnsLookupAsync(url.hostname, { all: true }).catch(() => undefined),
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), CONFIG_LOOKUP_MS))),
  ]).finally(() => clearTimeout(timer));
  if (!addresses?.length) return undefined;
  const problems = addresses.map((a) => addressProblem(a.address));
  if (problems.every(Boolean))
    return new EgressDeniedError(
      originKey(url.protocol, url.hostname, url.port),
      resolvedRefusal(url.hostname),
      `${url.hostname} resolves to ${problems.join(', ')}`,
    );
  return undefined;
}

/**
 * A `lookup` for net/tls.connect that resolves the name and keeps only the addresses
 * `public` allows; none left is an EgressDeniedError, which the socket reports as its error.
 */
export const publicLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0);
    const allowed = addresses.filter((a) => !addressProblem(a.address));
    if (!allowed.length) {
      const detail = `${hostname} resolves to ${addresses.map((a) => addressProblem(a.address)).join(', ')}`;
      return callback(new EgressDeniedError(hostname, resolvedRefusal(hostname), detail), '', 0);
    }
    // net asks for every address when it races IPv4 and IPv6 (autoSelectFamily), else for one.
    if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
    else callback(null, allowed[0]!.address, allowed[0]!.family);
  });
};

/**
 * The undici `connect` option enforcing the policy on every new connection of a
 * dispatcher: the origin first (allow-list, IP literals), then — under `public` — the
 * addresses the hostname resolves to, at the moment of connecting. Undefined for `any`:
 * undici's own connector, nothing added.
 */
export function egressConnector(policy: EgressPolicy, opts: buildConnector.BuildOptions = {}): buildConnector.connector | undefined {
  if (policy.kind === 'any') return undefined;
  const connect = buildConnector(policy.kind === 'public' ? { ...opts, lookup: publicLookup } : opts);
  return (options, callback) => {
    const denied = originProblem(policy, options.protocol, options.hostname, options.port);
    if (denied) return callback(denied, null);
    connect(options, (...args) => {
      const err = args[0];
      // The lookup knows only the hostname: the refusal names the whole origin.
      if (err instanceof EgressDeniedError)
        return callback(new EgressDeniedError(originKey(options.protocol, options.hostname, options.port), err.reason, err.detail), null);
      callback(...args);
    });
  };
}

/** The EgressDeniedError behind an error (undici's fetch wraps it as `cause`), if any. */
export function egressDenial(err: unknown): EgressDeniedError | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof EgressDeniedError) return e;
  }
  return undefined;
}
