// The web playground: `GET /` and its few static files under `/web/`. No auth (a static
// page; its API calls carry the key the user pastes) and hidden from the OpenAPI doc.
// Exact paths only, so nothing here can shadow /docs, /metrics, /health or the APIs.
import type { FastifyPluginAsync } from 'fastify';
import { loadWebAssets } from '../../web/assets.ts';

const headers = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // Everything is served from here: no inline code, no third-party origin.
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
} as const;

export const webRoutes = (): FastifyPluginAsync => async (app) => {
  for (const [path, asset] of loadWebAssets()) {
    app.get(path, { schema: { hide: true } }, async (_req, reply) => reply.headers(headers).type(asset.type).send(asset.body));
  }
};
