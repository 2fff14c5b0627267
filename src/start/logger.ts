// The process's one logger, built before anything else so that what the start does (the
// crash-recovery sweep, the Redis bus connecting) is logged, and handed to Fastify as its
// logger instance and to every service. Pino, as Fastify would build it.
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Headers that carry a key, wherever a log line holds them: a request (Fastify's `req`),
 * a recorded upstream call (`headers`) or an error's request (`err.request`). Never logged.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'err.request.headers.authorization',
];

/** `destination`: where lines go (stdout unless given: a test captures them). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: REDACTED_PATHS }, destination);
}
