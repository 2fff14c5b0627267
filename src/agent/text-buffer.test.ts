import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTextBuffer } from './text-buffer.ts';

// Chinese, a plain astral emoji, a ZWJ family, a skin-tone ZWJ, a flag pair, an astral Han character
const TEXT = '你好，世界！😀 家庭👨‍👩‍👧‍👦 ok 👩🏽‍💻 🇩🇪🇯🇵 𠮷野家 end';

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

function wellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isHigh(c)) {
      if (!isLow(s.charCodeAt(i + 1))) return false;
      i++;
    } else if (isLow(c)) return false;
  }
  return true;
}

const codePoints = (s: string) => [...s].length;

/** Runs deltas through a buffer synchronously (the timer never gets to fire). */
function run(size: number, deltas: string[]): string[] {
  const out: string[] = [];
  const buf = createTextBuffer({ size, flushIntervalMs: 10_000, onFlush: (t) => out.push(t) });
  for (const d of deltas) buf.push(d);
  buf.close();
  return out;
}

/** Every flush boundary must be a delta boundary, or one unit before it when that unit is a held high surrogate. */
function checkBoundaries(deltas: string[], flushes: string[]): void {
  const deltaEnds = new Set<number>();
  let at = 0;
  for (const d of deltas) deltaEnds.add((at += d.length));
  const whole = deltas.join('');
  let pos = 0;
  for (const f of flushes.slice(0, -1)) {
    pos += f.length;
    const ok = deltaEnds.has(pos) || (deltaEnds.has(pos + 1) && isHigh(whole.charCodeAt(pos)));
    assert.ok(ok, `flush boundary ${pos} splits a delta`);
  }
}

function splitsAt(text: string, cuts: number[]): string[] {
  const parts: string[] = [];
  let prev = 0;
  for (const c of cuts) {
    parts.push(text.slice(prev, c));
    prev = c;
  }
  parts.push(text.slice(prev));
  return parts;
}

// deterministic PRNG so failures reproduce
function rng(seed: number) {
  return () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

for (const size of [1, 7, 64]) {
  test(`size ${size}: byte-exact reassembly, whole characters, delta boundaries`, () => {
    const cases: string[][] = [];
    // one cut at every UTF-16 position (splits every surrogate pair and ZWJ sequence somewhere)
    for (let i = 0; i <= TEXT.length; i++) cases.push(splitsAt(TEXT, [i]));
    // two cuts at every pair of positions
    for (let i = 0; i <= TEXT.length; i++) for (let j = i; j <= TEXT.length; j++) cases.push(splitsAt(TEXT, [i, j]));
    // one code unit per delta: every surrogate half arrives alone
    cases.push(TEXT.split(''));
    // random chunkings
    const r = rng(42);
    for (let k = 0; k < 200; k++) {
      const cuts: number[] = [];
      for (let p = 0; p < TEXT.length; p++) if (r() < 0.3) cuts.push(p);
      cases.push(splitsAt(TEXT, cuts));
    }

    for (const deltas of cases) {
      const flushes = run(size, deltas);
      const joined = flushes.join('');
      assert.equal(joined, TEXT);
      assert.deepEqual(Buffer.from(joined, 'utf8'), Buffer.from(TEXT, 'utf8'));
      for (const f of flushes) {
        assert.ok(f.length > 0, 'empty flush');
        assert.ok(wellFormed(f), `flush is not well-formed: ${JSON.stringify(f)}`);
      }
      checkBoundaries(deltas, flushes);
      if (size > 1) {
        // a size flush only happens once size code points are held; only close() emits less
        for (const f of flushes.slice(0, -1)) assert.ok(codePoints(f) >= size, `short flush ${JSON.stringify(f)}`);
      }
    }
  });
}

test('size 1 emits every delta synchronously, with no timer', () => {
  const out: string[] = [];
  const timers = spyTimers();
  try {
    const buf = createTextBuffer({ size: 1, flushIntervalMs: 50, onFlush: (t) => out.push(t) });
    buf.push('a');
    assert.deepEqual(out, ['a']);
    buf.push('你好');
    assert.deepEqual(out, ['a', '你好']);
    buf.close();
    assert.equal(timers.created, 0);
  } finally {
    timers.restore();
  }
});

test('size <= 1 (0, negative, NaN) behaves like 1', () => {
  for (const size of [0, -5, NaN]) {
    const out: string[] = [];
    const buf = createTextBuffer({ size, flushIntervalMs: 50, onFlush: (t) => out.push(t) });
    buf.push('x');
    buf.push('y');
    assert.deepEqual(out, ['x', 'y']);
  }
});

test('counts code points, not UTF-16 units or bytes', () => {
  const out: string[] = [];
  const buf = createTextBuffer({ size: 3, flushIntervalMs: 10_000, onFlush: (t) => out.push(t) });
  buf.push('😀😀'); // 4 units, 8 bytes, 2 code points
  assert.deepEqual(out, []);
  buf.push('\ud83d'); // half a character: not counted yet
  assert.deepEqual(out, []);
  buf.push('\ude00'); // completes the 3rd code point
  assert.deepEqual(out, ['😀😀😀']);
  buf.push('中\ud83d');
  buf.flush(); // held back: a flush never ends in a lone high surrogate
  assert.deepEqual(out, ['😀😀😀', '中']);
  buf.push('\ude00文字'); // the held half + 3 code points
  assert.deepEqual(out, ['😀😀😀', '中', '😀文字']);
  buf.close();
});

test('a pair split across deltas counts once', () => {
  const out: string[] = [];
  const buf = createTextBuffer({ size: 3, flushIntervalMs: 10_000, onFlush: (t) => out.push(t) });
  buf.push('a\ud83d'); // 2 code points begun
  buf.push('\ude00'); // completes the pair: still 2
  assert.deepEqual(out, []);
  buf.push('b'); // 3
  assert.deepEqual(out, ['a😀b']);
  buf.close();
});

test('close emits a trailing lone high surrogate rather than losing it', () => {
  const out: string[] = [];
  const buf = createTextBuffer({ size: 64, flushIntervalMs: 10_000, onFlush: (t) => out.push(t) });
  buf.push('x\ud83d');
  buf.flush();
  assert.deepEqual(out, ['x']);
  buf.close();
  assert.deepEqual(out, ['x', '\ud83d']);
});

test('flush() emits what is held; nothing when empty', () => {
  const out: string[] = [];
  const buf = createTextBuffer({ size: 64, flushIntervalMs: 10_000, onFlush: (t) => out.push(t) });
  buf.flush();
  assert.deepEqual(out, []);
  buf.push('ab');
  buf.push('c');
  buf.flush();
  assert.deepEqual(out, ['abc']);
  buf.close();
  assert.deepEqual(out, ['abc']);
});

test('flushes flushIntervalMs after the first unflushed push, not after the last', async () => {
  const out: string[] = [];
  const buf = createTextBuffer({ size: 1000, flushIntervalMs: 40, onFlush: (t) => out.push(t) });
  buf.push('你');
  await sleep(25);
  buf.push('好'); // must not restart the hold
  assert.deepEqual(out, []);
  await sleep(35); // 60 ms after the first push
  assert.deepEqual(out, ['你好']);
  buf.push('!'); // a new hold starts
  await sleep(60);
  assert.deepEqual(out, ['你好', '!']);
  buf.close();
});

test("one unref'd timer at a time; none left after close or a size flush", async () => {
  const timers = spyTimers();
  try {
    const out: string[] = [];
    const buf = createTextBuffer({ size: 4, flushIntervalMs: 30, onFlush: (t) => out.push(t) });
    buf.push('a');
    buf.push('b');
    buf.push('c');
    assert.equal(timers.created, 1);
    assert.equal(timers.live.size, 1);
    for (const t of timers.live) assert.equal(t.hasRef(), false);
    buf.push('d'); // size reached: flushed, timer cleared
    assert.deepEqual(out, ['abcd']);
    assert.equal(timers.live.size, 0);
    buf.push('e');
    assert.equal(timers.live.size, 1);
    buf.close();
    assert.deepEqual(out, ['abcd', 'e']);
    assert.equal(timers.live.size, 0);
    buf.push('f'); // after close: emitted at once, no timer
    assert.deepEqual(out, ['abcd', 'e', 'f']);
    assert.equal(timers.live.size, 0);
    await sleep(50);
    assert.deepEqual(out, ['abcd', 'e', 'f']);
  } finally {
    timers.restore();
  }
});

test('a re-entrant push from onFlush is not lost', () => {
  const out: string[] = [];
  let once = true;
  const buf = createTextBuffer({
    size: 2,
    flushIntervalMs: 10_000,
    onFlush: (t) => {
      out.push(t);
      if (once) {
        once = false;
        buf.push('zz');
      }
    },
  });
  buf.push('ab');
  buf.close();
  assert.deepEqual(out, ['ab', 'zz']);
});

/** Counts timers created through the global setTimeout and tracks which are still live. */
function spyTimers() {
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const live = new Set<NodeJS.Timeout>();
  const spy = { created: 0, live, restore() {} };
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    spy.created++;
    const t = realSet(() => {
      live.delete(t);
      fn();
    }, ms);
    live.add(t);
    return t;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((t: NodeJS.Timeout) => {
    live.delete(t);
    realClear(t);
  }) as typeof clearTimeout;
  spy.restore = () => {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
  };
  return spy;
}
