// One exchange being stored: the user's message and the answer's reserved row (one chat
// turn's records). A leaf the history and the turn's phases both import.

export interface Exchange {
  orgId: string;
  agentId: string;
  userId: string | null;
  sessionId: string;
  userMessageId: string;
  userContent: string;
  /** the user message's prompt tokens as stored (undefined: counted after the answer) */
  userTokens?: number;
  /**
   * Set when the prompt was built: the history window will be full by the next turn. A
   * summary (memory.summary) folds it down to these marks after this turn, so the summary
   * and the window change at one chunk point (summaries.ts).
   */
  windowFull?: { keepMessages: number; keepTokens: number };
  /**
   * Set when the window gave way this turn: settles when its new start is stored and the other
   * instances told. The answer is stored after it, so a client that has the answer finds the
   * same window on any instance.
   */
  windowMoved?: Promise<void>;
  /** the assistant message id, inserted as 'streaming' until the answer ends */
  assistantMessageId: string;
  /** settles when the user's message (and a new session) are committed */
  stored: Promise<void>;
}
