// `agentmem chat <agent-id>`: a streaming chat in the terminal. Interactive (readline)
// on a terminal; one message with -m, or all of stdin when it is not a terminal. The
// answer streams to stdout; after it, one dim line on stderr: the time to first token
// as this client saw it and the server's stage timings. A connection lost mid-answer
// is resumed from the last frame received (GET …/chat/stream/:message_id, Last-Event-ID).
import { createInterface } from 'node:readline';
import { Command } from 'commander';
import type { AgentEvent } from '../agent/events.ts';
import { ApiError, createClient, guarded, withConnection, type Client, type SseEvent } from './client.ts';

type DoneEvent = Extract<AgentEvent, { chunk_type: 'done' }>;

interface ChatOptions {
  url: string;
  key?: string;
  user?: string;
  session?: string;
  message?: string;
}

interface TurnResult {
  sessionId?: string;
  error?: { code: string; message: string };
}

const RESUME_ATTEMPTS = 3;

export function chatCommand(): Command {
  return withConnection(
    new Command('chat')
      .description('Chat with an agent, streamed: interactive on a terminal; one message with -m or from piped stdin')
      .argument('<agent-id>', 'the agent to talk to')
      .option('--user <id>', 'user_id (whose memories are recalled)')
      .option('--session <id>', 'continue this session')
      .option('-m, --message <text>', 'send one message, print the answer, exit'),
  ).action(
    guarded(async (agentId: string, opts: ChatOptions) => {
      const client = createClient(opts);
      const oneShot = opts.message ?? (process.stdin.isTTY ? undefined : await readStdin());
      if (oneShot !== undefined) {
        if (!oneShot.trim()) throw new ApiError('bad_request', 'nothing to send: the message is empty');
        const r = await turn(client, agentId, { message: oneShot, user_id: opts.user, session_id: opts.session });
        if (r.error) throw new ApiError(r.error.code, r.error.message);
        process.exit(0);
      }
      await interactive(client, agentId, opts);
    }),
  );
}

async function interactive(client: Client, agentId: string, opts: ChatOptions): Promise<void> {
  let sessionId = opts.session;
  let running: AbortController | undefined;
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: style('1', 'you › ') });
  // Ctrl-C stops the answer being streamed; at the prompt it quits.
  rl.on('SIGINT', () => {
    if (running) running.abort();
    else rl.close();
  });
  process.stderr.write(style('2', `chatting with ${agentId} at ${client.url} — /exit or Ctrl-D to quit, Ctrl-C stops an answer\n`));
  rl.prompt();
  for await (const line of rl) {
    const message = line.trim();
    if (message === '/exit' || message === '/quit') break;
    if (message) {
      running = new AbortController();
      try {
        const r = await turn(client, agentId, { message, user_id: opts.user, session_id: sessionId }, running.signal);
        sessionId = r.sessionId ?? sessionId;
        if (r.error) process.stderr.write(`error: ${r.error.code}: ${r.error.message}\n`);
      } catch (err) {
        if ((err as Error).name === 'AbortError') process.stderr.write(style('2', '\n(stopped)\n'));
        else if (err instanceof ApiError) process.stderr.write(`error: ${err.code}: ${err.message}\n`);
        else throw err;
      } finally {
        running = undefined;
      }
    }
    rl.prompt();
  }
  rl.close();
  process.exit(0);
}

/** One message and its streamed answer; stats go to stderr. Throws ApiError when no stream starts. */
async function turn(
  client: Client,
  agentId: string,
  body: { message: string; user_id?: string; session_id?: string },
  signal?: AbortSignal,
): Promise<TurnResult> {
  const t0 = performance.now();
  const spinner = startSpinner(t0);
  let ttft: number | undefined;
  let lastId: string | undefined;
  let messageId: string | undefined;
  let sessionId: string | undefined;
  let ended = false;
  let endsWithNewline = true;
  let thinking = false;
  let done: DoneEvent | undefined;
  let error: TurnResult['error'];
  const onEvent = ({ id, data: e }: SseEvent<AgentEvent>) => {
    if (id) lastId = id;
    switch (e.chunk_type) {
      case 'start':
        messageId = e.message_id;
        sessionId = e.session_id;
        break;
      case 'content':
        if (thinking) {
          thinking = false;
          process.stderr.write('\n');
        }
        if (ttft === undefined) {
          ttft = performance.now() - t0;
          spinner.stop();
        }
        process.stdout.write(e.content);
        endsWithNewline = e.content.endsWith('\n');
        break;
      case 'reasoning':
        // A thinking model's reasoning: dim, on stderr, so stdout stays the answer.
        spinner.stop();
        process.stderr.write(style('2', e.content));
        thinking = true;
        break;
      case 'tool_call':
        spinner.stop();
        process.stderr.write(style('2', `[tool ${e.name}]`) + '\n');
        break;
      case 'done':
        ended = true;
        done = e;
        break;
      case 'error':
        ended = true;
        error = { code: e.code, message: e.message };
        break;
    }
  };
  try {
    const path = `/api/v1/agents/${encodeURIComponent(agentId)}/chat/stream`;
    let lost: unknown;
    try {
      await client.stream('POST', path, strip(body), onEvent, { signal });
    } catch (err) {
      if ((err as Error).name === 'AbortError' || !messageId) throw err;
      lost = err;
    }
    // Cut off before the end: pick the stream up again where it was left.
    for (let attempt = 1; !ended && messageId && attempt <= RESUME_ATTEMPTS; attempt++) {
      try {
        await client.stream('GET', `${path}/${messageId}`, undefined, onEvent, { signal, headers: lastId ? { 'last-event-id': lastId } : {} });
      } catch (err) {
        if ((err as Error).name === 'AbortError' || (err instanceof ApiError && err.status === 404)) throw err;
        lost = err;
      }
    }
    if (!ended) error = { code: 'stream_lost', message: `the answer stream ended early${lost ? ` (${(lost as Error).message})` : ''}` };
  } finally {
    spinner.stop();
  }
  if (!endsWithNewline) process.stdout.write('\n');
  process.stderr.write(style('2', statsLine(ttft, done, sessionId)) + '\n');
  return { sessionId, error };
}

function statsLine(ttft: number | undefined, done: DoneEvent | undefined, sessionId: string | undefined): string {
  const parts = [`first token ${ttft === undefined ? '–' : `${Math.round(ttft)} ms`} (client)`];
  const t = (done?.timings ?? {}) as Record<string, unknown>;
  const stages = Object.entries(t).flatMap(([k, v]) => (typeof v === 'number' ? [`${k} ${fmt(v)}`] : []));
  // (the unit after the last figure: a skipped stage has none)
  if (stages.length) stages.push(`${stages.pop()!} ms`);
  for (const [k, why] of Object.entries((t.skipped ?? {}) as Record<string, string>)) stages.push(`${k} skipped (${why})`);
  if (stages.length) parts.push(`server: ${stages.join(' · ')}`);
  if (done?.usage?.completion_tokens !== undefined) parts.push(`${done.usage.completion_tokens} tokens`);
  if (done?.fallback) parts.push(`fallback ${done.model}`);
  if (sessionId) parts.push(`session ${sessionId}`);
  return parts.join(' │ ');
}

const fmt = (ms: number) => (ms >= 100 ? String(Math.round(ms)) : ms.toFixed(1));

/** Dots on stderr while the first token is awaited (a terminal only). */
function startSpinner(t0: number): { stop(): void } {
  if (!process.stderr.isTTY) return { stop() {} };
  const frames = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
  let i = 0;
  const timer = setInterval(() => {
    process.stderr.write(`\r${style('2', `${frames[i++ % frames.length]} waiting for the first token… ${((performance.now() - t0) / 1000).toFixed(1)} s`)}`);
  }, 80);
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (i > 0) process.stderr.write('\r\x1b[2K');
    },
  };
}

/** SGR styling on a terminal (dim = 2, bold = 1), plain otherwise or with NO_COLOR. */
function style(sgr: string, text: string): string {
  return process.stderr.isTTY && !process.env.NO_COLOR ? `\x1b[${sgr}m${text}\x1b[0m` : text;
}

function strip<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
