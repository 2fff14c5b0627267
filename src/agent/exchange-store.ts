// An exchange an app had with its own model, stored as a chat turn stores one: the user's
// message and the answer in the session (a new one when none is named), then the work after
// a turn (memory extraction, a summary, the next recall pool), off the request path.
import type { FinishReason, Usage } from '../llm/types.ts';
import type { MemoryChange } from '../memory/memories.ts';
import type { ReadyAgent } from './cache.ts';
import { checkSession } from './turn-begin.ts';
import type { ChatInput, RunDeps } from './turn-types.ts';

export interface ExchangeInput extends Pick<ChatInput, 'orgId' | 'userId' | 'sessionId' | 'message'> {
  answer: string;
  reasoning?: string;
  finishReason?: FinishReason;
  usage?: Usage;
}

export interface StoredExchange {
  sessionId: string;
  userMessageId: string;
  messageId: string;
  /** what extraction changed, when the caller waited for it */
  memoryUpdates: MemoryChange[] | undefined;
}

export async function storeExchange(deps: RunDeps, agent: ReadyAgent, input: ExchangeInput, waitForMemories: boolean): Promise<StoredExchange> {
  const existing = input.sessionId ? await deps.history.window(input.orgId, input.sessionId, 0) : undefined;
  checkSession({ agent, input }, existing);
  const exchange = deps.history.begin({
    orgId: input.orgId,
    agentId: agent.id,
    userId: input.userId ?? existing?.session.user_id ?? null,
    session: existing?.session,
    content: input.message,
  });
  await deps.history.finish(exchange, {
    content: input.answer,
    status: 'complete',
    finish_reason: input.finishReason ?? 'stop',
    usage: input.usage ?? null,
    timings: null,
    error: null,
    tool_calls: null,
    reasoning: input.reasoning || null,
  });
  const updates = deps.afterTurn?.(agent, exchange, input.answer, waitForMemories);
  // Without a listener the extraction still runs; its failure is the job queue's to retry.
  updates?.catch(() => {});
  return {
    sessionId: exchange.sessionId,
    userMessageId: exchange.userMessageId,
    messageId: exchange.assistantMessageId,
    memoryUpdates: waitForMemories ? await (updates ?? Promise.resolve([])).catch(() => []) : undefined,
  };
}
