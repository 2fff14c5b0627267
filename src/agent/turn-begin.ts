// Beginning a turn: the session and its window, the user's message counted and stored,
// recall, MCP tools and the upstream connection made ready at once, the start event, the
// prompt fitted to the window. Nothing here waits that the first token does not need.
import { unlessAborted } from '../abort.ts';
import { MESSAGE_OVERHEAD } from '../llm/token-count.ts';
import type { ChatMessage, ToolSpec } from '../llm/types.ts';
import type { Exchange } from '../memory/history.ts';
import type { RecalledMemory } from '../memory/recall.ts';
import { countChat } from '../memory/window-messages.ts';
import type { SessionWindow } from '../memory/session-cache.ts';
import { budgetOf, checkUserFits, ContextTooLongError, countUser, fitTurn, type Budget, type FittedPrompt, type UserCount } from './context-window.ts';
import type { McpToolset } from './mcp-tools.ts';
import type { Prompt } from './prompt.ts';
import { toolSpecs } from './tools.ts';
import type { TurnContext } from './turn-context.ts';
import { ChatInputError } from './turn-errors.ts';
import { turnTools } from './working-tool.ts';

/** What the turn knows once the model can be asked. */
export interface BegunTurn {
  /** the user's message (being stored) and the answer's reserved row */
  exchange: Exchange;
  /** whose memories these are: the request's user, or the session's */
  userId: string | null;
  recalled: RecalledMemory[];
  mcp: McpToolset | undefined;
  /** the tools the model is offered (undefined: none) */
  specs: ToolSpec[] | undefined;
  /** the prompt; each tool step appends its calls and their results */
  messages: ChatMessage[];
  /** where the prompt's stable parts end (prompt.ts Prompt.breakpoints) */
  breakpoints: number[];
}

export type Window = SessionWindow | undefined;

/** What a turn reads first: the session and its window, whose memories, the budget, the user's message counted, recall under way. */
export interface TurnStart {
  existing: Window;
  userId: string | null;
  budget: Budget;
  user: UserCount;
  /** the memories recalled for the message (recall runs beside the history read when it can) */
  recalling: Promise<RecalledMemory[]>;
  /**
   * The window as the store has it: `existing`, or, when this instance's copy was behind, read
   * again; rejects (not_found) when the session was deleted meanwhile. Await it before the
   * prompt is made (session-cache.ts, freshness).
   */
  checked: Promise<Window>;
}

/**
 * The first phase of a turn, shared with a context request (turn-prompt.ts): the session read
 * (a cache hit costs no round trip) and checked, recall started, the message counted.
 */
export async function startTurn(turn: TurnContext): Promise<TurnStart> {
  const { deps, agent, input, timings } = turn;
  const { config } = agent;
  const recallFor = (userId: string | null): Promise<RecalledMemory[]> =>
    deps.recall && config.memory.semantic_recall.enabled ? deps.recall(agent, userId, input.message, timings, turn.signal) : Promise.resolve([]);
  // Recall needs the user: when the request names one (or starts a session), it begins
  // now, beside the history read; otherwise the session says whose memories to recall.
  const early = input.userId !== undefined || !input.sessionId ? recallFor(input.userId ?? null) : undefined;

  // The session and its history window. A client that leaves meanwhile still waits for it
  // (the turn is recorded in its session), not for more.
  const t0 = performance.now();
  // (one message more than the window holds: a window past its size gives way in a chunk)
  const depth = config.memory.last_messages && config.memory.last_messages + 1;
  const existing = input.sessionId ? await deps.history.window(input.orgId, input.sessionId, depth) : undefined;
  checkSession(turn, existing);
  timings.mark('history', t0);
  const userId = input.userId ?? existing?.session.user_id ?? null;
  const budget = budgetOf(config.llm);
  const user = checkUser(turn, budget);
  return { existing, userId, budget, user, recalling: early ?? recallFor(userId), checked: checkedWindow(turn, existing, depth) };
}

/** A window from this instance's copy, checked against the store beside the turn's other work (session-cache.ts). */
function checkedWindow(turn: TurnContext, existing: Window, depth: number): Promise<Window> {
  const freshness = existing?.freshness;
  if (!existing || !freshness) return Promise.resolve(existing);
  const checked = freshness.then(async (f) => {
    if (f === 'gone') throw new ChatInputError('not_found', 'Session not found.');
    if (f === 'current') return existing;
    // behind the store (a delta not heard yet): the copy is dropped, so this reads the store
    const again = await turn.deps.history.window(turn.input.orgId, existing.session.id, depth);
    checkSession(turn, again);
    return again;
  });
  checked.catch(() => {}); // (a turn that fails before awaiting it leaves no unhandled rejection)
  return checked;
}

export async function beginTurn(turn: TurnContext): Promise<BegunTurn> {
  const { deps, agent, input, timings } = turn;
  const { config } = agent;
  // MCP tools: listed on the agent's first use (beside history and recall), cached after.
  const mcpTools = deps.mcp?.toolset(agent).catch(() => undefined);
  const { existing, userId, budget, user, recalling, checked } = await startTurn(turn);

  // The user's message is written after recall (the embedded engine runs one query at a
  // time, in order) and while the model thinks; finishTurn waits for the write. (And after the
  // session's check: a window read again must not hold this turn's own message.)
  const exchange = deps.history.begin(
    {
      orgId: input.orgId,
      agentId: agent.id,
      userId,
      session: existing?.session,
      content: input.message,
      tokens: user.exact ? user.tokens + MESSAGE_OVERHEAD : undefined,
    },
    Promise.all([recalling, checked]),
  );
  exchange.stored.catch(() => {
    turn.storeFailed = true;
    turn.abort();
  });
  const { sessionId, assistantMessageId, userMessageId } = exchange;
  turn.sink.emit({ chunk_type: 'start', session_id: sessionId, message_id: assistantMessageId, user_message_id: userMessageId, agent_id: agent.id });
  const working = deps.working?.forTurn(config.memory.working, input.orgId, agent.id, userId, exchange.sessionId, !existing);
  // At once: recall memories, make the upstream connection ready.
  const [window, recalled, mcp, , workingText] = await Promise.all([
    checked,
    recalling,
    mcpTools,
    agent.provider.warm
      ? unlessAborted(
          timings.time('connect', () => agent.provider.warm!()),
          turn.signal,
          undefined,
        )
      : undefined,
    working?.catch(() => undefined),
  ]);

  const tp = performance.now();
  const specs = turnTools(config, config.tools.length || input.clientTools ? [...toolSpecs(config.tools, mcp), ...(input.clientTools ?? [])] : undefined);
  const { messages, breakpoints, windowStart, windowFull } = fitPrompt(turn, budget, user, window, { recalled, mcp, specs, working: workingText });
  timings.mark('prompt', tp);
  exchange.windowFull = windowFull;
  // The window gave way: stored after the user's message (and before the answer), so the next
  // turns, here or on another instance, send the same window. Should the write fail, the next
  // turn decides again.
  if (windowStart !== undefined) {
    exchange.windowMoved = deps.history.moveWindow(input.orgId, sessionId, windowStart, window?.messages.at(-1)?.seq ?? 0, exchange.stored).catch(() => {});
  }
  return { exchange, userId, recalled, mcp, specs, messages, breakpoints };
}

/** The session must be the agent's, and the user's when the request names one. */
export function checkSession({ agent, input }: Pick<TurnContext, 'agent' | 'input'>, existing: Window): void {
  if (input.sessionId && (!existing || existing.session.agent_id !== agent.id)) throw new ChatInputError('not_found', 'Session not found.');
  if (existing && input.userId && existing.session.user_id && existing.session.user_id !== input.userId) {
    throw new ChatInputError('bad_request', 'This session belongs to another user_id.');
  }
}

/**
 * The user's message is counted once, while recall runs (a long one only if it matters);
 * with the system prompt alone it must fit the window, or the turn is refused here.
 */
function checkUser(turn: TurnContext, budget: Budget): UserCount {
  const { config } = turn.agent;
  const message = turn.input.message;
  const user = countUser(message);
  try {
    // (the agent's own tools count here; MCP and a client's tools are known later, and fitted then)
    checkUserFits(
      budget,
      { systemPrompt: config.system_prompt, tools: turnTools(config, config.tools.length ? toolSpecs(config.tools) : undefined), toolsKey: config },
      message,
      user,
    );
  } catch (err) {
    if (!(err instanceof ContextTooLongError)) throw err;
    turn.abort();
    throw new ChatInputError('context_too_long', err.message);
  }
  return user;
}

/** The prompt, fitted to the window from counts taken when each part was stored (context-window.ts). */
export function fitPrompt(
  turn: TurnContext,
  budget: Budget,
  user: UserCount,
  existing: Window,
  parts: { recalled: RecalledMemory[]; mcp: McpToolset | undefined; specs: ToolSpec[] | undefined; working: string | undefined },
): Prompt & Pick<FittedPrompt, 'windowStart' | 'windowFull'> {
  const { agent, input } = turn;
  const { config } = agent;
  const session = existing?.session;
  // The window starts after the summary, at its stored start (one past the newest message is
  // from before a restore from a dump, where messages got new seqs: not a start).
  const newest = existing?.messages.at(-1)?.seq ?? 0;
  const windowSeq = session?.window_seq && session.window_seq <= newest + 1 ? session.window_seq : 0;
  const after = Math.max(session?.summarized_seq ?? 0, windowSeq - 1);
  // A client's own system messages and tool round (OpenAI route) are sent as they are: kept out of the budget first.
  const extra: ChatMessage[] = [...(input.system ?? []).map((content): ChatMessage => ({ role: 'system', content })), ...(input.continuation ?? [])];
  const fitted = fitTurn(
    extra.length ? { ...budget, limit: budget.limit - Math.ceil(countChat(extra) * budget.scale) } : budget,
    {
      systemPrompt: config.system_prompt,
      working: parts.working,
      summary: input.history ? undefined : (session?.summary ?? undefined),
      recalled: parts.recalled,
      history: input.history ?? (existing?.messages ?? []).filter((m) => m.seq > after),
      user: input.message,
      tools: parts.specs,
      // (the tools' count is kept per agent only when nothing but the agent's config decides them)
      toolsKey: parts.mcp || input.clientTools ? undefined : config,
      maxMessages: input.history ? undefined : config.memory.last_messages,
    },
    user,
  );
  const { messages } = fitted;
  let { breakpoints } = fitted;
  if (input.system) {
    const at = messages[0]?.role === 'system' ? 1 : 0;
    messages.splice(at, 0, ...input.system.map((content): ChatMessage => ({ role: 'system', content })));
    const added = input.system.length;
    breakpoints = breakpoints.map((i) => (i >= at ? i + added : i));
  }
  if (input.continuation) messages.push(...input.continuation);
  return { messages, breakpoints, windowStart: fitted.windowStart, windowFull: fitted.windowFull };
}
