// The bench's upstream emulator runs in a worker thread of its own, so the main thread's
// event-loop delay and profile are agentmem's alone (as they are in production, where
// the model is another machine). `startEmulatorThread` is the main thread's handle; the
// bottom half is the worker. What the bench reads of the emulator crosses by message.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { spawnWorker } from '../threads.ts';
import { startEmulator, type Emulator, type EmulatorOptions } from '../emulator/server.ts';
import { EXTRACTION_MARKER } from '../llm/task-markers.ts';

/** What agentmem sent upstream on a chat request: the prompt's messages and characters. */
export interface PromptSize {
  messages: number;
  chars: number;
}

/** Prompt tokens the emulator billed one API key: all of them, and those its prefix cache served. */
export interface PromptTotals {
  requests: number;
  tokens: number;
  cached: number;
}

export interface EmulatorThread {
  url: string;
  /** TCP connections accepted so far */
  connections(): Promise<number>;
  /** the prompt of the last chat request served since the last reset (extraction's left out) */
  lastPrompt(): Promise<PromptSize | undefined>;
  /** the chat prompts served so far under the bearer `key`: extraction, summaries and chat alike */
  promptTotals(key: string): Promise<PromptTotals>;
  /** forgets the requests recorded so far (the emulator keeps each one, body included: a test aid) */
  reset(): Promise<void>;
  close(): Promise<void>;
}

type Ask = { id: number; op: 'connections' | 'lastPrompt' | 'promptTotals' | 'reset' | 'close'; key?: string };
type Answer = { id: number; value?: unknown; error?: string };

export async function startEmulatorThread(options: EmulatorOptions): Promise<EmulatorThread> {
  const worker = spawnWorker(new URL(import.meta.url), { workerData: { emulatorThread: options } });
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let ids = 0;
  const url = await new Promise<string>((resolve, reject) => {
    worker.once('message', (m: { url?: string; error?: string }) => (m.url ? resolve(m.url) : reject(new Error(`the emulator did not start: ${m.error}`))));
    worker.once('error', reject);
  });
  worker.on('message', (m: Answer) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(m.error));
    else p.resolve(m.value);
  });
  const ask = <T>(op: Ask['op'], key?: string) =>
    new Promise<T>((resolve, reject) => {
      const id = ++ids;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, op, key } satisfies Ask);
    });
  return {
    url,
    connections: () => ask<number>('connections'),
    lastPrompt: () => ask<PromptSize | undefined>('lastPrompt'),
    promptTotals: (key) => ask<PromptTotals>('promptTotals', key),
    reset: () => ask<void>('reset'),
    async close() {
      await ask('close');
      await worker.terminate();
    },
  };
}

function promptTotals(emulator: Emulator, key: string): PromptTotals {
  const totals = { requests: 0, tokens: 0, cached: 0 };
  for (const r of emulator.requests) {
    if (!r.prompt || r.headers.authorization !== `Bearer ${key}`) continue;
    totals.requests++;
    totals.tokens += r.prompt.tokens;
    totals.cached += r.prompt.cached;
  }
  return totals;
}

function lastPrompt(emulator: Emulator): PromptSize | undefined {
  const { requests } = emulator;
  for (let i = requests.length - 1; i >= 0; i--) {
    const messages = (requests[i]!.body as { messages?: Array<{ content: unknown }> } | undefined)?.messages;
    if (!Array.isArray(messages) || String(messages[0]?.content ?? '').startsWith(EXTRACTION_MARKER)) continue;
    const chars = messages.reduce((n, m) => n + (typeof m.content === 'string' ? m.content.length : JSON.stringify(m.content ?? '').length), 0);
    return { messages: messages.length, chars };
  }
  return undefined;
}

if (!isMainThread && parentPort && workerData?.emulatorThread) {
  const port = parentPort;
  try {
    const emulator = await startEmulator(workerData.emulatorThread as EmulatorOptions);
    port.on('message', ({ id, op, key }: Ask) => {
      const answer = (value?: unknown) => port.postMessage({ id, value } satisfies Answer);
      if (op === 'connections') return answer(emulator.connections);
      if (op === 'lastPrompt') return answer(lastPrompt(emulator));
      if (op === 'promptTotals') return answer(promptTotals(emulator, key ?? ''));
      if (op === 'reset') {
        emulator.requests.length = 0;
        emulator.embeddings.length = 0;
        return answer();
      }
      emulator.close().then(
        () => answer(),
        (err: unknown) => port.postMessage({ id, error: err instanceof Error ? err.message : String(err) } satisfies Answer),
      );
    });
    port.postMessage({ url: emulator.url });
  } catch (err) {
    port.postMessage({ error: (err as Error).message });
  }
}
