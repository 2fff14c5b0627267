// Is this error the store being out of reach (down, restarting, refusing connections,
// the pool unable to connect in time) rather than a bad query? Those are a 503
// `storage_unavailable` with Retry-After: our own dependency, worth retrying; a 5xx that
// names no upstream.

// Socket-level failures, and PostgreSQL's SQLSTATEs for a server going away or not taking
// connections: admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections,
// database_dropped; class 08 is connection exceptions.
const CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '57P04',
  '53300',
]);
// pg's own wording where it sets no code (a pool timeout, a connection that ended mid-query).
const MESSAGES =
  /connection terminated|timeout exceeded when trying to connect|connection timeout|client has encountered a connection error|not queryable|cannot use a pool after calling end/i;

export function isStoreUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown[]; cause?: unknown };
  if (typeof e.code === 'string' && (CODES.has(e.code) || /^08/.test(e.code))) return true;
  if (typeof e.message === 'string' && MESSAGES.test(e.message)) return true;
  // A connect to several addresses (IPv4 and IPv6) fails as an AggregateError of each.
  if (Array.isArray(e.errors) && e.errors.some(isStoreUnavailable)) return true;
  return e.cause !== undefined && e.cause !== err && isStoreUnavailable(e.cause);
}

/** What a client is told to wait before retrying, seconds. */
export const STORE_RETRY_AFTER_S = 2;
