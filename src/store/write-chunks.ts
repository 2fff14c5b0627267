// Big writes in bounded pieces: at most WRITE_CHUNK.rows rows or WRITE_CHUNK.bytes of text per
// statement, with a turn of the event loop between pieces, so that one import holds neither
// the store's connection (PGlite has only one) nor the event loop for long: other requests'
// statements and /health run in between. (A piece of 100 memories with their history rows
// takes tens of milliseconds on PGlite: what another request may wait behind it.)

export const WRITE_CHUNK = { rows: 100, bytes: 128 * 1024 } as const;

/** `items` in order, cut where a piece would pass `rows` items or `bytes` (as `size` counts them; a bigger item is a piece of its own). */
export function* writeChunks<T>(items: readonly T[], size: (item: T) => number, limit: { rows: number; bytes: number } = WRITE_CHUNK): Generator<T[]> {
  let piece: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const n = size(item);
    if (piece.length && (piece.length >= limit.rows || bytes + n > limit.bytes)) {
      yield piece;
      piece = [];
      bytes = 0;
    }
    piece.push(item);
    bytes += n;
  }
  if (piece.length) yield piece;
}

/** Lets everything already waiting (I/O callbacks, timers, other requests) run first. */
export const loopTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
