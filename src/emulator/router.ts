// The emulator's routes: a method and a test on the path (its `~k=v` option segments taken
// off, options.ts), first match wins, anything else is the not-found handler's.
//
// A plain table over node:http, not Fastify: the emulator is the upstream of every test and
// the "direct" side of every bench, so what it puts on the wire and when is the reference
// agentmem is measured against. Its handlers write the raw response themselves (SSE frames
// and their timing, flushHeaders before the first token, dropped connections, keep-alive,
// HTTPS and the delaying relay); a framework's reply, hooks and default headers would sit
// in that path and in the baseline's timing.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { parseOptionPath, type RoutedPath } from './options.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse, at: RoutedPath) => void;

export interface Route {
  method: 'GET' | 'HEAD' | 'POST';
  /** tested against the path without its option segments */
  path: (path: string) => boolean;
  handle: Handler;
}

/** Paths under any prefix (`/v1/chat/completions`, `/api/paas/v4/chat/completions`). */
export const endingWith =
  (suffix: string) =>
  (path: string): boolean =>
    path.endsWith(suffix);
export const exactly =
  (expected: string) =>
  (path: string): boolean =>
    path === expected;
export const anyPath = (): boolean => true;

export function createRouter(routes: Route[], notFound: Handler): RequestListener {
  return (req, res) => {
    const at = parseOptionPath(new URL(req.url ?? '/', 'http://emulator').pathname);
    const route = routes.find((r) => r.method === req.method && r.path(at.path));
    (route?.handle ?? notFound)(req, res, at);
  };
}
