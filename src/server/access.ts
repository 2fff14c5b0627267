// Who may call a route. Every API route names, in its config, the least privileged
// caller it admits; one hook authenticates the key and checks that, before the body is
// read. docs/security.md has the table, and test/roles.test.ts holds the server to it.
//
//   platform_admin  the bootstrap key only (creating organizations)
//   admin           an organization's admin keys
//   member          admin and member keys (not scoped ones)
//   scoped          every key, scoped (end-user) keys too; the route enforces the scope (scope.ts)
//
// A caller the route refuses gets 403 when its own organization has the resource the
// route names (`resource`, looked up by the `:id` parameter), and 404 otherwise, so a
// refusal never tells another organization what exists.
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { getApiKey } from '../store/repos/api-keys.ts';
import { getSession } from '../store/repos/sessions.ts';
import { getUser } from '../store/repos/users.ts';
import { getEndpoint } from '../store/repos/webhooks.ts';
import { createTimings } from '../trace/timings.ts';
import { isScoped, type Principal } from './auth.ts';
import type { ServerContext } from './context.ts';
import { AppError, notFound } from './errors.ts';
import { isUuid } from './http.ts';

export type Access = 'platform_admin' | 'admin' | 'member' | 'scoped';
export type Resource = 'organization' | 'api_key' | 'user' | 'agent' | 'session' | 'memory' | 'webhook';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    /** what the `:id` path parameter names, for 403-or-404 */
    resource?: Resource;
    /** a WebSocket may come without an Authorization header and send its key in its first message (browsers cannot set headers on one) */
    keyInFirstMessage?: boolean;
  }
}

export function allows(access: Access, p: Principal): boolean {
  switch (access) {
    case 'scoped':
      return true;
    case 'member':
      return !isScoped(p);
    case 'admin':
      return p.role === 'admin' && !isScoped(p);
    case 'platform_admin':
      return p.platform_admin && p.role === 'admin' && !isScoped(p);
  }
}

const refusal: Record<Access, string> = {
  platform_admin: 'Only the platform admin key can do this.',
  admin: 'This needs an admin API key.',
  member: 'A scoped API key cannot do this: it may only chat and use its own memories and sessions.',
  scoped: '',
};

/** Does the caller's organization have this resource? (A refused caller learns it only about its own org.) */
async function exists(ctx: ServerContext, p: Principal, resource: Resource, id: string): Promise<boolean> {
  const org = p.org_id;
  switch (resource) {
    case 'organization':
      return id === org;
    case 'user':
      return Boolean(await getUser(ctx.db, org, id));
    case 'api_key':
      return isUuid(id) && Boolean(await getApiKey(ctx.db, org, id));
    case 'agent':
      return isUuid(id) && Boolean(await ctx.agents.get(org, id));
    case 'session':
      return isUuid(id) && Boolean(await getSession(ctx.db, org, id));
    case 'memory':
      return isUuid(id) && Boolean(await ctx.memories.get(org, id));
    case 'webhook':
      return isUuid(id) && Boolean(await getEndpoint(ctx.db, org, id));
  }
}

/** Throws 403 or 404 unless the route admits this caller. */
export async function checkAccess(ctx: ServerContext, req: FastifyRequest): Promise<void> {
  const { access, resource } = req.routeOptions.config;
  if (!access || allows(access, req.principal)) return;
  const id = (req.params as { id?: string } | undefined)?.id;
  if (resource && id !== undefined && !(await exists(ctx, req.principal, resource, id))) throw notFound(label[resource]);
  throw new AppError('forbidden', refusal[access]);
}

const label: Record<Resource, string> = {
  organization: 'Organization',
  api_key: 'API key',
  user: 'User',
  agent: 'Agent',
  session: 'Session',
  memory: 'Memory',
  webhook: 'Webhook endpoint',
};

/**
 * The one auth hook, for every route: stage timings start; on a route that declares who may
 * call it (every route under the API prefixes must, requireAccessRules), the key becomes a
 * principal and the rule is checked. Public routes (health, docs, the web page) pass.
 */
export function authHook(ctx: ServerContext): onRequestAsyncHookHandler {
  return async function authenticate(req) {
    req.timings = createTimings();
    const config = req.routeOptions.config;
    if (!config?.access) return;
    if (config.keyInFirstMessage && req.headers.authorization === undefined) return;
    req.principal = await ctx.auth.authenticate(req.headers.authorization);
    req.timings.mark('auth');
    await checkAccess(ctx, req);
  };
}

/** Refuses to start when a route under `prefix` declares no access rule: a new route is never open by accident. */
export function requireAccessRules(app: FastifyInstance, prefixes: string[]): void {
  app.addHook('onRoute', (route) => {
    const url = route.url ?? route.path;
    if (!prefixes.some((p) => url.startsWith(p))) return;
    if (route.method === 'HEAD') return;
    if (!route.config?.access) throw new Error(`route ${route.method} ${url} declares no access rule (config.access)`);
  });
}
