// An answer's text while it streams, kept as flat chunks. `text += delta` would build a rope:
// one cons cell per delta, the deltas alive under it, until something flattens the whole —
// a 1 MB answer in 13-byte deltas holds ~80K cells and strings, several times its size (six
// paused streams: tens of MiB), and each flattening copies all of it again. Here the deltas
// are joined every CHUNK characters, so what a stream holds is about its text, once.

const CHUNK = 16 * 1024;

export interface AnswerText {
  add(delta: string): void;
  readonly length: number;
  /** what was added since the last call (a checkpoint's new part), without flattening the rest */
  take(): string;
  /** all of the text the calls to take() have returned */
  taken(): string;
  toString(): string;
}

export function createAnswerText(): AnswerText {
  let chunks: string[] = [];
  let tail: string[] = [];
  let tailLength = 0;
  let length = 0;
  let takenLength = 0;
  const seal = () => {
    if (!tail.length) return;
    chunks.push(tail.length === 1 ? tail[0]! : tail.join(''));
    tail = [];
    tailLength = 0;
  };
  /** the last `n` characters, read backwards through the tail and the chunks */
  const last = (n: number): string => {
    const out: string[] = [];
    for (const list of [tail, chunks]) {
      for (let i = list.length - 1; i >= 0 && n > 0; i--) {
        const s = list[i]!;
        out.push(s.length <= n ? s : s.slice(s.length - n));
        n -= s.length;
      }
    }
    return out.reverse().join('');
  };
  const whole = (): string => {
    seal();
    if (chunks.length > 1) chunks = [chunks.join('')];
    return chunks[0] ?? '';
  };
  return {
    add(delta) {
      if (!delta) return;
      tail.push(delta);
      tailLength += delta.length;
      length += delta.length;
      if (tailLength >= CHUNK) seal();
    },
    get length() {
      return length;
    },
    take() {
      const n = length - takenLength;
      takenLength = length;
      return n ? last(n) : '';
    },
    taken: () => whole().slice(0, takenLength),
    toString: whole,
  };
}
