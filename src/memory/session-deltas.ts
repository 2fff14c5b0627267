// What the bus carries when a session changes, so an instance holding its window patches it
// instead of reading it again: the stored row itself (bounded) and the seq of the session's
// newest finished message before it, as the write saw it. The receiver appends only when that
// is the newest it holds; a gap (a message missed, heard out of order, or written by two
// instances at once) drops its copy and the next turn there reads the store: never a window
// missing a stored message. Deletes, forgets and summaries still drop (no delta).
import type { SessionDelta } from '../store/invalidation.ts';
import type { Message, Written } from '../store/repos/messages.ts';
import type { SessionCache } from './session-cache.ts';

/** A row larger than this (as JSON) is not sent: the receivers read the store instead. */
export const MAX_DELTA_BYTES = 32 * 1024;

/** Whose session it is: the message index files messages under the session's user. */
export interface SessionOwner {
  orgId: string;
  agentId: string;
  userId: string | null;
}

/** The row as cached, without what only the write returned. */
export function storedRow(written: Written): { row: Message; after: number } {
  const { prev_seq, ...row } = written;
  return { row, after: Number(prev_seq) };
}

/** The delta that appends `row`; undefined when it is too large to send (then: drop). */
export function appendDelta(owner: SessionOwner, row: Message, after: number): SessionDelta | undefined {
  // (characters, not bytes: a bound, not a measure)
  if (JSON.stringify(row).length > MAX_DELTA_BYTES) return undefined;
  return { t: 'append', org: owner.orgId, agent: owner.agentId, user: owner.userId, after, m: [row] };
}

/** Rows as they came over the bus, typed again (dates revived, seqs as numbers). */
function rowsOf(delta: Extract<SessionDelta, { t: 'append' }>): Message[] {
  return (delta.m as Message[]).map((r) => ({ ...r, seq: Number(r.seq), created_at: new Date(r.created_at) }));
}

/**
 * Another instance changed session `sessionId`: patches this instance's copy (no delta: drops
 * it). `onStored` hears every message appended elsewhere (the message index), held here or not.
 */
export function applySessionDelta(
  cache: SessionCache,
  sessionId: string,
  delta: SessionDelta | undefined,
  onStored?: (orgId: string, session: { id: string; agent_id: string | null; user_id: string | null }, message: Message) => void,
): void {
  if (!delta || sessionId === '*') return cache.drop(sessionId);
  if (delta.t === 'window') return cache.moveWindow(sessionId, delta.seq);
  const rows = rowsOf(delta);
  const held = cache.peek(sessionId);
  if (held && held.session.org_id !== delta.org) cache.drop(sessionId);
  else cache.append(sessionId, delta.after, rows);
  for (const row of rows) onStored?.(delta.org, { id: sessionId, agent_id: delta.agent, user_id: delta.user }, row);
}
