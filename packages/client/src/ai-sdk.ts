// agentmem as the memory of an app that calls its own model, for the AI SDK:
//   const model = wrapLanguageModel({ model: openai('gpt-4o'), middleware: agentmemMemory({ client, agentId, userId }) });
// Before each call, the prompt's last user message goes to POST /agents/:id/context, and the
// messages a chat turn would send (system prompt, summary, history window, working memory,
// recalled memories, fitted to the agent's budget) replace the app's prompt; the app's own
// system messages are kept (after the agent's) and a tool round after the user's message is
// appended as it is. After the model's final answer (generate or stream), the exchange is
// stored (POST /agents/:id/exchanges), which starts memory extraction as a turn does.
// One middleware is one conversation: without `sessionId`, the first stored exchange starts
// a session and the later calls continue it.
import type { LanguageModelMiddleware } from 'ai';
import type { AgentmemClient, ContextAnswer, ExchangeAnswer } from './client.ts';

type CallOptions = Parameters<NonNullable<LanguageModelMiddleware['transformParams']>>[0]['params'];
type Prompt = CallOptions['prompt'];
type PromptMessage = Prompt[number];
type GenerateResult = Awaited<ReturnType<NonNullable<LanguageModelMiddleware['wrapGenerate']>>>;
type StreamPart = Awaited<ReturnType<NonNullable<LanguageModelMiddleware['wrapStream']>>>['stream'] extends ReadableStream<infer P> ? P : never;
type FinishReason = GenerateResult['finishReason'];
type Usage = GenerateResult['usage'];

export interface AgentmemMemoryOptions {
  client: AgentmemClient;
  agentId: string;
  /** whose memories: recalled for them, extracted for them (a scoped key's own user when left out) */
  userId?: string;
  /** the session to continue; left out, the first stored exchange starts one */
  sessionId?: string;
  /** the session the first exchange started (to keep it for later, e.g. in the app's own store) */
  onSession?(sessionId: string): void;
  /** wait for memory extraction when storing an exchange (its changes in `lastExchange.memory_updates`); it runs in any case */
  waitForMemories?: boolean;
  /** a failure to fetch the context or store the exchange; without it, the call fails with it */
  onError?(err: unknown): void;
}

export interface AgentmemMemory extends LanguageModelMiddleware {
  /** the session this conversation is stored in (undefined until the first exchange when none was given) */
  readonly sessionId: string | undefined;
  /** the last context fetched (what the model was sent, and which memories were recalled) */
  readonly lastContext: ContextAnswer | undefined;
  /** the last exchange stored */
  readonly lastExchange: ExchangeAnswer | undefined;
}

/** What a transformed call keeps for its answer to be stored: the user's own text. */
interface Turn {
  message: string;
}

const textOf = (m: PromptMessage): string =>
  m.role === 'system'
    ? m.content
    : (m.content as Array<{ type: string; text?: string }>)
        .filter((p) => p.type === 'text')
        .map((p) => p.text!)
        .join('\n');

/** The context's messages (OpenAI-style, as agentmem sends them upstream) as an AI SDK prompt. */
function toPrompt(messages: ContextAnswer['messages']): Prompt {
  const names = new Map<string, string>();
  return messages.map((m): PromptMessage => {
    switch (m.role) {
      case 'system':
        return { role: 'system', content: m.content ?? '' };
      case 'user':
        return { role: 'user', content: [{ type: 'text', text: m.content ?? '' }] };
      case 'assistant': {
        const calls = (m.tool_calls ?? []).map((c) => {
          names.set(c.id, c.name);
          let input: unknown = c.arguments;
          try {
            input = JSON.parse(c.arguments);
          } catch {}
          return { type: 'tool-call' as const, toolCallId: c.id, toolName: c.name, input };
        });
        return { role: 'assistant', content: [...(m.content ? [{ type: 'text' as const, text: m.content }] : []), ...calls] };
      }
      case 'tool':
        return {
          role: 'tool',
          content: [
            {
              type: 'tool-result',
              toolCallId: m.tool_call_id ?? '',
              toolName: names.get(m.tool_call_id ?? '') ?? 'tool',
              output: { type: 'text', value: m.content ?? '' },
            },
          ],
        };
    }
  });
}

const finishOf = (r: FinishReason): 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'error' | 'other' =>
  r.unified === 'tool-calls' ? 'tool_calls' : r.unified === 'content-filter' ? 'content_filter' : r.unified;

const usageOf = (u: Usage | undefined) =>
  u?.inputTokens.total !== undefined && u.outputTokens.total !== undefined
    ? { prompt_tokens: u.inputTokens.total, completion_tokens: u.outputTokens.total }
    : undefined;

export function agentmemMemory(options: AgentmemMemoryOptions): AgentmemMemory {
  const { client, agentId, userId, waitForMemories = false, onSession, onError } = options;
  let sessionId = options.sessionId;
  let lastContext: ContextAnswer | undefined;
  let lastExchange: ExchangeAnswer | undefined;
  // The calls of one turn (a tool round: the same user message, then its calls' results) share one context.
  let cached: { message: string; sessionId: string | undefined; context: ContextAnswer } | undefined;
  const turns = new WeakMap<CallOptions, Turn>();

  const failed = (err: unknown) => {
    if (!onError) throw err;
    onError(err);
  };

  async function contextFor(message: string, system: string[]): Promise<ContextAnswer> {
    if (cached && cached.message === message && cached.sessionId === sessionId) return cached.context;
    const context = await client.context(agentId, {
      message,
      ...(userId !== undefined ? { user_id: userId } : {}),
      ...(sessionId !== undefined ? { session_id: sessionId } : {}),
      ...(system.length ? { system } : {}),
    });
    cached = { message, sessionId, context };
    return (lastContext = context);
  }

  async function store(turn: Turn, answer: { text: string; reasoning: string; finishReason: FinishReason; usage: Usage | undefined }) {
    // A tool round is not the end of the turn: the answer after the tools' results is.
    if (answer.finishReason.unified === 'tool-calls') return;
    cached = undefined;
    try {
      const usage = usageOf(answer.usage);
      const stored = await client.storeExchange(agentId, {
        message: turn.message,
        answer: answer.text,
        ...(answer.reasoning ? { reasoning: answer.reasoning } : {}),
        finish_reason: finishOf(answer.finishReason),
        ...(usage ? { usage } : {}),
        ...(waitForMemories ? { memory_updates: true } : {}),
        ...(userId !== undefined ? { user_id: userId } : {}),
        ...(sessionId !== undefined ? { session_id: sessionId } : {}),
      });
      lastExchange = stored;
      if (sessionId === undefined) {
        sessionId = stored.session_id;
        onSession?.(sessionId);
      }
    } catch (err) {
      failed(err);
    }
  }

  return {
    specificationVersion: 'v3',
    get sessionId() {
      return sessionId;
    },
    get lastContext() {
      return lastContext;
    },
    get lastExchange() {
      return lastExchange;
    },

    async transformParams({ params }) {
      const { prompt } = params;
      const at = prompt.findLastIndex((m) => m.role === 'user');
      if (at < 0) return params;
      const user = prompt[at]!;
      const message = textOf(user);
      if (!message.trim()) return params;
      let context: ContextAnswer;
      try {
        context = await contextFor(
          message,
          prompt.slice(0, at).flatMap((m) => (m.role === 'system' ? [m.content] : [])),
        );
      } catch (err) {
        failed(err);
        return params; // (onError chose to go on: the app's own prompt, without memory)
      }
      const fitted = toPrompt(context.messages);
      // The user's message as agentmem framed it (memory blocks first), with the app's files beside it.
      const last = fitted.at(-1);
      const files = user.role === 'user' ? user.content.filter((p) => p.type === 'file') : [];
      if (last?.role === 'user' && files.length) last.content.push(...files);
      const next = { ...params, prompt: [...fitted, ...prompt.slice(at + 1)] };
      turns.set(next, { message });
      return next;
    },

    async wrapGenerate({ doGenerate, params }) {
      const result = await doGenerate();
      const turn = turns.get(params);
      if (turn) {
        const text = result.content.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('');
        const reasoning = result.content.flatMap((p) => (p.type === 'reasoning' ? [p.text] : [])).join('');
        await store(turn, { text, reasoning, finishReason: result.finishReason, usage: result.usage });
      }
      return result;
    },

    async wrapStream({ doStream, params }) {
      const result = await doStream();
      const turn = turns.get(params);
      if (!turn) return result;
      let text = '';
      let reasoning = '';
      let finish: { finishReason: FinishReason; usage: Usage } | undefined;
      const collect = new TransformStream<StreamPart, StreamPart>({
        transform(part, controller) {
          if (part.type === 'text-delta') text += part.delta;
          else if (part.type === 'reasoning-delta') reasoning += part.delta;
          else if (part.type === 'finish') finish = { finishReason: part.finishReason, usage: part.usage };
          controller.enqueue(part);
        },
        // Stored before the stream closes: once the app has the whole answer, the exchange is in the session.
        async flush() {
          if (finish) await store(turn, { text, reasoning, ...finish });
        },
      });
      return { ...result, stream: result.stream.pipeThrough(collect) };
    },
  };
}
