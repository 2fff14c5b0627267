// What the invalidation bus reports, logged and counted. An outage is one warning when
// it begins (with its first error) and one when it ends; the errors in between (one per
// reconnect attempt) are counted, not logged, so a long outage does not flood the log.
import type { BusEvent } from '../store/invalidation.ts';
import type { Metrics } from './metrics.ts';

interface Log {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export function busEventSink(metrics: Metrics, log: () => Log | undefined): (e: BusEvent) => void {
  let quiet = false; // an error was already logged for this outage
  return (e) => {
    metrics.countBusEvent(e.type);
    // Before the server (and its logger) exists: counted only; the start says it if Redis is down.
    const out = log();
    if (!out) return;
    switch (e.type) {
      case 'error':
        if (!quiet) out.warn({ err: e.err, connection: e.connection }, 'invalidation bus (Redis) error');
        quiet = true;
        break;
      case 'publish_failed':
        out.warn({ err: e.err }, 'invalidation bus (Redis): a change could not be published; other instances will clear their caches when it can');
        break;
      case 'down':
        out.warn({ reason: e.reason }, 'invalidation bus (Redis) down: caches bypassed, every read goes to the database');
        break;
      case 'cleared':
        out.info({}, 'invalidation bus (Redis): another instance missed publishing a change; every cache cleared');
        break;
      case 'up':
        quiet = false;
        out.info({ down_ms: e.downMs }, 'invalidation bus (Redis) back: every cache cleared, caches in use again');
        break;
    }
  };
}
