// Composite keys: every map and bus message keyed by more than one id builds its key here,
// and every key that is read back is decoded here, so there is one separator and one way
// to tell a missing id from an empty one.
//
// A key is its parts joined by SEP (U+0001). A part is:
//   ''      null (no agent, no user)
//   '*'     any (every agent, every user); a scope key reads the agent id '*' as this
//   the id  as it is, when it is non-empty, not '*' and free of U+0001 and U+0002 (every
//           UUID, every ordinary user id: then the key is the plain concatenation it always was,
//           and bus messages read the same on an instance of the previous release)
//   MARK + the id escaped (U+0002 → U+0002 U+0002, U+0001 → U+0002 U+0003) otherwise.
// Building a key costs one regex test per part beside the concatenation; only keys that
// come back from the bus or a map walk are ever decoded.

const SEP = '\u0001';
const MARK = '\u0002';
const UNSAFE = /[\u0001\u0002]/;

/** A part that is null (none) or undefined (any) beside ids. */
export type Part = string | null | undefined;

function escape(v: string): string {
  if (v.length !== 0 && v !== '*' && !UNSAFE.test(v)) return v;
  return MARK + v.replaceAll(MARK, MARK + MARK).replaceAll(SEP, MARK + '\u0003');
}

function unescape(p: string): string {
  let out = '';
  for (let i = 1; i < p.length; i++) {
    const c = p[i]!;
    if (c !== MARK) out += c;
    else out += p[++i] === MARK ? MARK : SEP;
  }
  return out;
}

/** One part of a key. */
export const part = (v: Part): string => (v === undefined ? '*' : v === null ? '' : escape(v));

/** A part read back. */
export function readPart(p: string): Part {
  if (p === '') return null;
  if (p === '*') return undefined;
  return p.charCodeAt(0) === 2 ? unescape(p) : p;
}

/** The parts of a key, decoded; throws unless there are `count` of them. */
export function split(key: string, count: number, what: string): Part[] {
  const parts = key.split(SEP);
  if (parts.length !== count) throw new Error(`malformed ${what} key`);
  return parts.map(readPart);
}

const id = (v: Part, what: string): string => {
  if (typeof v !== 'string') throw new Error(`malformed key: no ${what}`);
  return v;
};

// ---- scopes of memories: (organization, agent, user) ----

/** A scope of memories; undefined: every agent / every user. */
export interface ScopeParts {
  orgId: string;
  agentId: string | null | undefined;
  userId: string | null | undefined;
}

/** (org, agent, user): predictions, the memories bus, scope versions' sync, index groups. */
export const scopeKey = (orgId: string, agentId: Part, userId: Part): string => `${part(orgId)}${SEP}${part(agentId)}${SEP}${part(userId)}`;

export function readScopeKey(key: string): ScopeParts {
  const [org, agentId, userId] = split(key, 3, 'scope');
  return { orgId: id(org, 'organization'), agentId, userId };
}

/** (org, user): what a user's keys share (forgetting a user walks them). */
export const userKey = (orgId: string, userId: string | null): string => `${part(orgId)}${SEP}${part(userId)}`;

export function readUserKey(key: string): { orgId: string; userId: string | null } {
  const [org, user] = split(key, 2, 'user');
  if (user === undefined) throw new Error('malformed user key');
  return { orgId: id(org, 'organization'), userId: user };
}

/** The user key of a scope key, without decoding it (its first and last parts never hold SEP). */
export const userOfScopeKey = (key: string): string => key.slice(0, key.indexOf(SEP)) + key.slice(key.lastIndexOf(SEP));

/** (agent, user) inside one organization: an index's leaf, a scope's version. */
export const leafKey = (agentId: string | null, userId: string | null): string => `${part(agentId)}${SEP}${part(userId)}`;

export function readLeafKey(key: string): { agentId: string | null; userId: string | null } {
  const [agentId, userId] = split(key, 2, 'leaf');
  if (agentId === undefined || userId === undefined) throw new Error('malformed leaf key');
  return { agentId, userId };
}

/** The agent of a leaf key, decoding that part only (a search over some agents reads it per leaf). */
export const agentOfLeafKey = (key: string): string | null => readPart(key.slice(0, key.indexOf(SEP))) ?? null;

/**
 * A search's scope with everything that narrows it (the store's scope sizes are cached by it):
 * `agentIds` (a key scoped to some agents) and `asOf` beside the scope.
 */
export const searchScopeKey = (s: { orgId: string; agentId?: Part; userId?: Part; agentIds?: string[]; asOf?: Date }): string =>
  `${scopeKey(s.orgId, s.agentId, s.userId)}${SEP}${s.agentIds ? part(s.agentIds.map(part).join(SEP)) : '*'}${SEP}${s.asOf ? s.asOf.toISOString() : '*'}`;

export function readSearchScopeKey(key: string): ScopeParts & { agentIds?: string[]; asOf?: Date } {
  const [org, agentId, userId, agentIds, asOf] = split(key, 5, 'search scope');
  return {
    orgId: id(org, 'organization'),
    agentId,
    userId,
    ...(typeof agentIds === 'string'
      ? { agentIds: agentIds === '' ? [] : split(agentIds, agentIds.split(SEP).length, 'agent list').map((a) => id(a, 'agent')) }
      : {}),
    ...(typeof asOf === 'string' ? { asOf: new Date(asOf) } : {}),
  };
}

/** A fact of one (agent, user) scope (a batch's duplicates are found by it). */
export const factKey = (agentId: string | null, userId: string | null, fact: string): string => `${leafKey(agentId, userId)}${SEP}${part(fact)}`;

export function readFactKey(key: string): { agentId: string | null; userId: string | null; fact: string } {
  const [agentId, userId, fact] = split(key, 3, 'fact');
  if (agentId === undefined || userId === undefined) throw new Error('malformed fact key');
  return { agentId, userId, fact: id(fact, 'fact') };
}

/** A query's vector, cached per embedder and text. */
export const vectorKey = (embedderId: string, text: string): string => `${part(embedderId)}${SEP}${part(text)}`;

export function readVectorKey(key: string): { embedderId: string; text: string } {
  const [embedderId, text] = split(key, 2, 'vector');
  return { embedderId: id(embedderId, 'embedder'), text: id(text, 'text') };
}

// ---- working memory: (org, agent, scope, owner) ----

export type WorkingScope = 'user' | 'session';

/** A block of working memory; agent undefined: that owner's blocks of every agent (the bus form of forgetting a user). */
export const workingKey = (orgId: string, agentId: string | undefined, scope: WorkingScope, owner: string): string =>
  `${part(orgId)}${SEP}${part(agentId)}${SEP}${scope}${SEP}${part(owner)}`;

export function readWorkingKey(key: string): { orgId: string; agentId: string | undefined; scope: WorkingScope; owner: string } {
  const [org, agentId, scope, owner] = split(key, 4, 'working memory');
  if (agentId === null || (scope !== 'user' && scope !== 'session')) throw new Error('malformed working memory key');
  return { orgId: id(org, 'organization'), agentId, scope, owner: id(owner, 'owner') };
}

// ---- an agent's secrets, by path in its config ----
// Stored sealed under these paths (so their text never changes): "llm.api_key",
// "llm.fallback.api_key", "memory.embedder.api_key", "tools.<i>.headers.<name>",
// "tools.<i>.env.<name>". A header's name may itself hold dots: it is everything after
// the field.

export type SecretPath = { kind: 'llm' | 'fallback' | 'embedder' } | { kind: 'tool'; index: number; field: 'headers' | 'env'; name: string };

const FIXED_PATHS = { llm: 'llm.api_key', fallback: 'llm.fallback.api_key', embedder: 'memory.embedder.api_key' } as const;

export const secretPath = (p: SecretPath): string => (p.kind === 'tool' ? `tools.${p.index}.${p.field}.${p.name}` : FIXED_PATHS[p.kind]);

/** A stored path read back; undefined for a path agentmem never writes. */
export function readSecretPath(path: string): SecretPath | undefined {
  if (path === FIXED_PATHS.llm) return { kind: 'llm' };
  if (path === FIXED_PATHS.fallback) return { kind: 'fallback' };
  if (path === FIXED_PATHS.embedder) return { kind: 'embedder' };
  if (!path.startsWith('tools.')) return undefined;
  const dot = path.indexOf('.', 6);
  const digits = path.slice(6, dot);
  if (dot < 0 || !/^\d+$/.test(digits)) return undefined;
  const rest = path.slice(dot + 1);
  const field = rest.startsWith('headers.') ? 'headers' : rest.startsWith('env.') ? 'env' : undefined;
  if (!field) return undefined;
  const name = rest.slice(field.length + 1);
  return name ? { kind: 'tool', index: Number(digits), field, name } : undefined;
}

/** The config object a secret sits in and its field there (every path but a tool's is a fixed walk). */
export const secretHolderPath = (p: SecretPath): { holder: Array<string | number>; field: string } =>
  p.kind === 'tool'
    ? { holder: ['tools', p.index, p.field], field: p.name }
    : p.kind === 'llm'
      ? { holder: ['llm'], field: 'api_key' }
      : p.kind === 'fallback'
        ? { holder: ['llm', 'fallback'], field: 'api_key' }
        : { holder: ['memory', 'embedder'], field: 'api_key' };

/** A tool's secret named by the tool's name (a PATCH removing a header or env variable): follows the tool when the tools move. */
export const toolSecretKey = (toolName: string, field: 'headers' | 'env', name: string): string => `${part(toolName)}${SEP}${field}${SEP}${part(name)}`;

export function readToolSecretKey(key: string): { toolName: string; field: 'headers' | 'env'; name: string } {
  const [toolName, field, name] = split(key, 3, 'tool secret');
  if (field !== 'headers' && field !== 'env') throw new Error('malformed tool secret key');
  return { toolName: id(toolName, 'tool'), field, name: id(name, 'name') };
}

/** An agent's MCP server connection (mcp-tools.ts): the agent id, then the server's name. */
export const mcpServerKey = (agentId: string, serverName: string): string => `${part(agentId)}${SEP}${part(serverName)}`;

/** Whether a key from mcpServerKey belongs to the agent. */
export const isAgentsServerKey = (key: string, agentId: string): boolean => key.startsWith(part(agentId) + SEP);
