// The streaming buffer policy between the provider's text deltas and the client.
// The seed counted its buffer in bytes but sliced it in characters (broken on
// Chinese) and could hold text until a byte count was reached. Here:
// - size counts Unicode code points (a surrogate pair is one, even split across deltas);
// - it flushes when `size` code points are held OR `flushIntervalMs` after the
//   first unflushed push — one unref'd timer, so nothing waits for a count;
// - size <= 1 is "every delta at once": synchronous, no timer, no buffering;
// - flushes are whole concatenated deltas. The one exception: a delta ending in a
//   high surrogate keeps that single code unit back until the next push, so no
//   flush ends half a character (close() emits it anyway if nothing follows).

export interface TextBufferOptions {
  /** flush when this many code points are held; <= 1 means emit every delta at once */
  size: number;
  /** longest hold for the first unflushed delta; 0 means "end of this turn of the event loop" */
  flushIntervalMs: number;
  onFlush: (text: string) => void;
}

export interface TextBuffer {
  push(text: string): void;
  /** Emits what is held (if anything), keeping back only a trailing high surrogate. */
  flush(): void;
  /** Emits everything, clears the timer. Later pushes are emitted at once, never held. */
  close(): void;
}

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

/**
 * Complete code points added by `text` appended after a unit `prev` (NaN if none).
 * A high surrogate counts only once its pair completes (or proves lone), so a
 * size flush always carries `size` whole characters.
 */
function codePointsAfter(text: string, prev: number): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isHigh(prev) && !isLow(c)) n++; // the previous high surrogate was lone
    if (!isHigh(c)) n++; // a BMP unit, or the low surrogate completing a pair
    prev = c;
  }
  return n;
}

export function createTextBuffer(options: TextBufferOptions): TextBuffer {
  const { onFlush } = options;
  const size = options.size;
  const interval = Math.max(0, Number.isFinite(options.flushIntervalMs) ? options.flushIntervalMs : 0);
  // NaN, 0, negatives and 1 all mean "no buffering"
  const immediate = !(size > 1);

  let held = ''; // text not yet emitted
  let count = 0; // code points in `held`
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  // Emits `held`, keeping back a trailing high surrogate (which counts 0) unless `all`.
  // State is settled before onFlush so a re-entrant push sees a consistent buffer.
  const emit = (all: boolean): void => {
    if (held.length === 0) return;
    let out = held;
    if (!all && isHigh(held.charCodeAt(held.length - 1))) {
      if (held.length === 1) return;
      out = held.slice(0, -1);
      held = held.slice(-1);
    } else {
      held = '';
    }
    count = 0;
    onFlush(out);
  };

  const clearTimer = (): void => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
  };

  // one function for every timer, not a closure per arm
  const onTimer = (): void => {
    timer = undefined;
    emit(false);
  };

  const pushImmediate = (text: string): void => {
    if (held.length !== 0) {
      // only ever a held high surrogate
      text = held + text;
      held = '';
    }
    const last = text.length - 1;
    if (!closed && isHigh(text.charCodeAt(last))) {
      held = text.slice(last);
      if (last === 0) return;
      text = text.slice(0, last);
    }
    onFlush(text);
  };

  return {
    push(text: string): void {
      if (text.length === 0) return;
      if (immediate || closed) return pushImmediate(text);
      count += codePointsAfter(text, held.length === 0 ? NaN : held.charCodeAt(held.length - 1));
      held += text;
      if (count >= size) {
        clearTimer();
        emit(false);
      } else if (timer === undefined) {
        timer = setTimeout(onTimer, interval);
        timer.unref();
      }
    },
    flush(): void {
      clearTimer();
      emit(false);
    },
    close(): void {
      closed = true;
      clearTimer();
      emit(true);
    },
  };
}
