// Who may read GET /metrics: the platform admin key (the bootstrap key), or a bearer equal
// to AGENTMEM_METRICS_TOKEN (for a scraper that should hold no API key). The figures are
// the whole platform's, across organizations, so no organization's key may read them.
// Not rate-limited (no principal is set): a scraper's interval is the operator's choice.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { allows } from './access.ts';
import { bearer } from './auth.ts';
import type { ServerContext } from './context.ts';
import { AppError } from './errors.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The onRequest hook of GET /metrics: returns when the caller may read it, else throws 401 or 403. */
export function metricsAccess(ctx: Pick<ServerContext, 'auth' | 'config'>): (req: { headers: IncomingHttpHeaders }) => Promise<void> {
  const token = ctx.config.metricsToken === undefined ? undefined : digest(ctx.config.metricsToken);
  return async (req) => {
    const given = bearer(req.headers.authorization);
    if (!given) throw new AppError('unauthorized', 'Reading /metrics needs the platform admin key or AGENTMEM_METRICS_TOKEN (Authorization: Bearer …).');
    // Compared as digests, in constant time: the token's length is not told either.
    if (token && timingSafeEqual(digest(given), token)) return;
    const p = await ctx.auth.authenticate(req.headers.authorization);
    if (!allows('platform_admin', p)) throw new AppError('forbidden', 'Only the platform admin key (or AGENTMEM_METRICS_TOKEN) can read /metrics.');
  };
}
