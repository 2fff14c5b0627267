// What every provider gets: a deadline for the first token, and retries with backoff
// for failures before it (connect errors, 429, 5xx, the deadline itself). After the
// first token nothing is retried: the client has seen text. Retries wrap the stream,
// not each provider.
import { linkAbort, sleep } from '../abort.ts';
import { UpstreamError, fromInfo } from './errors.ts';
import { collect } from './complete.ts';
import type { LlmRequest, Provider, StreamPart } from './types.ts';

export interface RetryPolicy {
  maxRetries: number;
  firstTokenTimeoutMs: number;
  /** first backoff; doubles per attempt, with jitter, capped */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export function withRetries(provider: Provider, policy: RetryPolicy): Provider {
  const stream = (req: LlmRequest) => retrying(provider, req, policy);
  return { ...provider, stream, complete: (req) => collect(stream(req)) };
}

async function* retrying(provider: Provider, req: LlmRequest, policy: RetryPolicy): AsyncGenerator<StreamPart> {
  for (let attempt = 0; ; attempt++) {
    const link = linkAbort(req.signal);
    let iterator: AsyncIterator<StreamPart> | undefined;
    let finished = false;
    try {
      let first: IteratorResult<StreamPart>;
      try {
        iterator = provider.stream({ ...req, signal: link.signal })[Symbol.asyncIterator]();
        first = await firstWithin(iterator, policy.firstTokenTimeoutMs, link.abort);
        if (!first.done && first.value.type === 'error' && first.value.error.retryable) throw fromInfo(first.value.error);
      } catch (err) {
        if (req.signal?.aborted || !(err instanceof UpstreamError) || !err.retryable || attempt >= policy.maxRetries) throw err;
        link.abort();
        await sleep(backoff(err, attempt, policy), req.signal);
        if (req.signal?.aborted) throw req.signal.reason;
        continue;
      }
      if (!first.done) {
        yield first.value;
        for (let r = await iterator.next(); !r.done; r = await iterator.next()) yield r.value;
      }
      finished = true;
      return;
    } finally {
      // A consumer that stops early (or a failed attempt) must not leave the upstream socket open.
      if (!finished) {
        link.abort();
        iterator?.return?.().catch(() => {});
      }
      link.release();
    }
  }
}

/** The first part, or an upstream_timeout that also aborts the request. */
async function firstWithin<T>(it: AsyncIterator<T>, ms: number, abort: () => void): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort();
      reject(new UpstreamError('upstream_timeout', `The model sent no token within ${ms} ms.`));
    }, ms);
  });
  try {
    return await Promise.race([it.next(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function backoff(err: UpstreamError, attempt: number, policy: RetryPolicy): number {
  const cap = policy.maxDelayMs ?? 5_000;
  if (err.retryAfterMs !== undefined) return Math.min(err.retryAfterMs, cap);
  const base = (policy.baseDelayMs ?? 200) * 2 ** attempt;
  return Math.min(cap, base * (0.8 + Math.random() * 0.4));
}
