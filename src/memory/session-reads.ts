// What summaries and extraction read from a session as this instance holds it, without a
// round trip (undefined: not held here, the caller reads the store or waits).
import type { Message } from '../store/repos/messages.ts';
import { newestSeq, type Entry, type SessionCache } from './session-cache.ts';
import { messageTokens } from './window-messages.ts';

/** The window start when the window has dropped messages the summary does not cover yet (undefined: none). */
function unsummarizedDrop(entry: Entry): number | undefined {
  const start = entry.session.window_seq;
  if (!start) return undefined;
  const after = entry.session.summarized_seq ?? 0;
  if (start <= after + 1 || start > newestSeq(entry) + 1) return undefined; // (past the newest: from before a restore)
  const oldest = entry.messages[0];
  // (what the cache holds may not reach back to the summary: then some may be dropped)
  const dropped = entry.depth !== Infinity && (!oldest || oldest.seq > after) ? true : entry.messages.some((m) => m.seq > after && m.seq < start);
  return dropped ? start : undefined;
}

export function sessionReads(cache: SessionCache) {
  return {
    /**
     * Prompt tokens of the session's messages after its summary, as far as this instance
     * holds them (undefined: not cached here).
     */
    unsummarizedTokens(sessionId: string): number | undefined {
      const entry = cache.peek(sessionId);
      if (!entry) return undefined;
      const after = entry.session.summarized_seq ?? 0;
      let n = 0;
      for (const m of entry.messages) if (m.seq > after) n += messageTokens(m);
      return n;
    },

    /** The session's cached messages, oldest first (complete: all of them), without a round trip; undefined when not cached. */
    recent(sessionId: string): { messages: Message[]; complete: boolean } | undefined {
      const entry = cache.peek(sessionId);
      return entry && { messages: entry.messages, complete: entry.depth === Infinity };
    },

    /** The message the session's summary ends at, as cached here (null: no summary; undefined: not cached). */
    summarizedThrough: (sessionId: string): string | null | undefined => cache.peek(sessionId)?.session.summarized_through,

    /** The window start when the window has dropped messages the summary does not cover yet (undefined: none, or not cached). */
    unsummarizedDrop(sessionId: string): number | undefined {
      const entry = cache.peek(sessionId);
      return entry && unsummarizedDrop(entry);
    },
  };
}
