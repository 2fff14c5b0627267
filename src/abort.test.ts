import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkAbort, onAbort, sleep, unlessAborted } from './abort.ts';

test('onAbort: runs once on abort, at once when already aborted; detach stops it', () => {
  const fired: string[] = [];
  const a = new AbortController();
  onAbort(a.signal, () => fired.push('later'));
  const b = new AbortController();
  const detach = onAbort(b.signal, () => fired.push('detached'));
  detach();
  b.abort();
  a.abort();
  a.abort();
  onAbort(a.signal, () => fired.push('already'));
  assert.deepEqual(fired, ['later', 'already']);
});

test('linkAbort: fires with the parent and takes its reason, at once when it already fired; release() detaches', () => {
  const reason = new Error('stop');
  const parent = new AbortController();
  const link = linkAbort(parent.signal);
  parent.abort(reason);
  assert.equal(link.signal.reason, reason);

  const gone = linkAbort(parent.signal);
  assert.equal(gone.signal.aborted, true, 'a parent that fired before the link');
  assert.equal(gone.signal.reason, reason);

  const other = new AbortController();
  const released = linkAbort(other.signal);
  released.release();
  other.abort();
  assert.equal(released.signal.aborted, false, 'released: the parent no longer reaches it');

  const alone = linkAbort(undefined);
  alone.abort();
  assert.equal(alone.signal.aborted, true);
});

test('unlessAborted and sleep end early on the signal', async () => {
  const a = new AbortController();
  const never = new Promise<string>(() => {});
  const raced = unlessAborted(never, a.signal, 'fallback');
  const slept = sleep(60_000, a.signal);
  a.abort();
  assert.equal(await raced, 'fallback');
  await slept;
  assert.equal(await unlessAborted(Promise.resolve('value'), new AbortController().signal, 'fallback'), 'value');
  assert.equal(await unlessAborted(never, a.signal, 'already'), 'already');
});
