// Linking AbortSignals, in one place (after undici's lib/api/abort-signal.js): a listener
// attached to a signal that has already fired would never run, so every helper here
// checks `aborted` first, and every attach comes with its detach.

const noop = () => {};

/** Runs `fn` once when `signal` aborts, at once if it already has. Returns the detach. */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return noop;
  if (signal.aborted) {
    fn();
    return noop;
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

/**
 * A controller that aborts with `parent`, taking its reason (as undici's request does), at
 * once if it already has; or alone, through abort(). release() detaches it from `parent`.
 */
export function linkAbort(parent: AbortSignal | undefined): { signal: AbortSignal; abort(reason?: unknown): void; release(): void } {
  const controller = new AbortController();
  const abort = (reason?: unknown) => controller.abort(reason);
  const release = onAbort(parent, () => controller.abort(parent!.reason));
  return { signal: controller.signal, abort, release };
}

/** `promise`, or `fallback` as soon as `signal` aborts (the promise runs on, unobserved). */
export function unlessAborted<T, F>(promise: Promise<T>, signal: AbortSignal | undefined, fallback: F): Promise<T | F> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(noop);
    return Promise.resolve(fallback);
  }
  return new Promise<T | F>((resolve, reject) => {
    const release = onAbort(signal, () => {
      promise.catch(noop);
      resolve(fallback);
    });
    promise.then(
      (v) => {
        release();
        resolve(v);
      },
      (err) => {
        release();
        reject(err);
      },
    );
  });
}

/** Waits `ms`; resolves early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let release = noop;
    const timer = setTimeout(() => {
      release();
      resolve();
    }, ms);
    release = onAbort(signal, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
