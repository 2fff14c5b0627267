// The conversation a client resends with each request (OpenAI-style and useChat clients).
import type { ChatMessage } from '../../llm/types.ts';

/**
 * The earlier messages a client resent (OpenAI-style and useChat clients), as the turn's
 * history: their text of users and the assistant, nothing else (system messages are the
 * agent's or go apart; tool rounds are not replayed). Undefined when none is left: the
 * session's stored window is used instead.
 */
export function clientHistory(messages: ReadonlyArray<{ role: string; content?: string | null }>): ChatMessage[] | undefined {
  const history = messages.flatMap((m): ChatMessage[] =>
    (m.role === 'user' || m.role === 'assistant') && m.content ? [{ role: m.role, content: m.content }] : [],
  );
  return history.length ? history : undefined;
}
