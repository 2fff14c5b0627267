// A turn's prompt without the turn: for an app that calls its own model and keeps agentmem
// as its memory (POST /agents/:id/context). The same phases as a chat turn (turn-begin.ts):
// the session's window, recall under the agent's budget, working memory, the summary, all
// fitted to the model's window; nothing is stored but where the window starts, so the next
// request sends the same prefix. The exchange is stored afterwards (exchange-store.ts).
import type { ChatMessage } from '../llm/types.ts';
import type { RecalledMemory } from '../memory/recall.ts';
import { fitPrompt, startTurn } from './turn-begin.ts';
import type { TurnContext } from './turn-context.ts';

export interface TurnPrompt {
  /** the session the window came from (null: none yet; storing the exchange starts one) */
  sessionId: string | null;
  /** whose memories were recalled: the request's user, or the session's */
  userId: string | null;
  /** what to send the model: system (prompt, summary), the window, the user's message with its memory blocks */
  messages: ChatMessage[];
  /** where the prompt's stable parts end (prompt.ts Prompt.breakpoints): where a prefix cache may end */
  breakpoints: number[];
  recalled: RecalledMemory[];
}

export async function turnPrompt(turn: TurnContext): Promise<TurnPrompt> {
  const { deps, agent, input, timings } = turn;
  const { config } = agent;
  const { userId, budget, user, recalling, checked } = await startTurn(turn);
  const existing = await checked;
  const sessionId = existing?.session.id ?? null;
  // (a session not started yet has no block of its own: forTurn answers the template without a read)
  const working = deps.working?.forTurn(config.memory.working, input.orgId, agent.id, userId, sessionId ?? '', !existing);
  const [recalled, workingText] = await Promise.all([recalling, working?.catch(() => undefined)]);
  const tp = performance.now();
  // No tools: the app offers its model its own, and runs them.
  const { messages, breakpoints, windowStart } = fitPrompt(turn, budget, user, existing, { recalled, mcp: undefined, specs: undefined, working: workingText });
  timings.mark('prompt', tp);
  // The window gave way: its new start is stored, so the next request (here or on another instance) sends the same window.
  if (sessionId && windowStart !== undefined) {
    await deps.history.moveWindow(input.orgId, sessionId, windowStart, existing?.messages.at(-1)?.seq ?? 0).catch(() => {});
  }
  return { sessionId, userId, messages, breakpoints, recalled };
}
