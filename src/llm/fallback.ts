// Fallback on a slow first token. The seed's biggest cost is the model's own first
// token (glm-4 ≈ 20 s): if the primary has sent nothing after `afterMs` (or failed
// before its first token), the fallback starts too; whichever sends a part first
// serves the answer and the other is cancelled. The finish part names the model
// that served.
import { linkAbort } from '../abort.ts';
import type { LlmRequest, Provider, StreamPart } from './types.ts';
import { collect } from './complete.ts';

interface Contender {
  model: string;
  it: AsyncIterator<StreamPart>;
  next: Promise<{ who: Contender; r: IteratorResult<StreamPart> } | { who: Contender; err: unknown }>;
  abort: { abort(): void };
}

export function withFallback(primary: Provider, fallback: Provider, fallbackModel: string, afterMs: number): Provider {
  const stream = (req: LlmRequest) => racing(primary, fallback, fallbackModel, afterMs, req);
  return {
    name: primary.name,
    stream,
    complete: (req) => collect(stream(req)),
    warm: primary.warm && (() => Promise.all([primary.warm?.(), fallback.warm?.()]).then(() => {})),
  };
}

async function* racing(primary: Provider, fallback: Provider, fallbackModel: string, afterMs: number, req: LlmRequest): AsyncGenerator<StreamPart> {
  const start = (p: Provider, model: string): Contender => {
    // Aborting a contender also detaches it from the caller's signal.
    const link = linkAbort(req.signal);
    const abort = { abort: () => (link.abort(), link.release()) };
    const it = p.stream({ ...req, model, signal: link.signal })[Symbol.asyncIterator]();
    const c = { model, it, abort } as Contender;
    c.next = pull(c);
    return c;
  };
  const pull = (c: Contender): Contender['next'] =>
    c.it.next().then(
      (r) => ({ who: c, r }),
      (err) => ({ who: c, err }),
    );

  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), afterMs)));
  const running = new Set([start(primary, req.model)]);
  let fallbackStarted = false;
  const startFallback = () => {
    clearTimeout(timer);
    fallbackStarted = true;
    running.add(start(fallback, fallbackModel));
  };
  let winner: Contender | undefined;
  let first: IteratorResult<StreamPart> | undefined;
  try {
    while (!winner) {
      const got = await Promise.race<'late' | Awaited<Contender['next']>>([...[...running].map((c) => c.next), ...(fallbackStarted ? [] : [late])]);
      if (got === 'late') {
        startFallback();
      } else if ('err' in got) {
        // A contender that fails before its first part (after its own retries) is out;
        // a failing primary brings the fallback in at once.
        running.delete(got.who);
        if (!fallbackStarted) startFallback();
        else if (running.size === 0) throw got.err;
      } else {
        winner = got.who;
        first = got.r;
      }
    }
  } finally {
    clearTimeout(timer);
    for (const c of running) if (c !== winner) c.abort.abort();
  }
  const served = winner!;
  if (first!.done) return;
  yield named(first!.value, served.model);
  try {
    for (let r = await served.it.next(); !r.done; r = await served.it.next()) yield named(r.value, served.model);
  } finally {
    served.abort.abort(); // detaches it from the caller's signal (and stops it if we were cancelled)
  }
}

const named = (part: StreamPart, model: string): StreamPart => (part.type === 'finish' ? { ...part, model } : part);
