// What a memory write records beside the row: its memory_history row and its webhook event
// (written in the same transaction, webhooks/outbox.ts). Plain builders, no I/O.
import { randomUUID } from 'node:crypto';
import type * as repo from '../store/repos/memories.ts';
import type { Memory, NewHistory, NewMemory } from '../store/repos/memories.ts';
import type { WebhookEvent } from '../webhooks/events.ts';

type Ref = { id: string; agent_id: string | null; user_id: string | null };
type Content = Pick<Memory, 'content' | 'metadata'>;

const ref = (m: Ref, source: string) => ({ id: m.id, agent_id: m.agent_id, user_id: m.user_id, source });

export const createdEvent = (m: NewMemory, source: string): WebhookEvent => ({
  type: 'memory.created',
  user_id: m.user_id,
  data: { ...ref(m, source), content: m.content, metadata: m.metadata as Record<string, unknown>, created_at: m.created_at.toISOString() },
});

export const updatedEvent = (m: Memory, previous: { content: string; metadata: unknown }, source: string): WebhookEvent => ({
  type: 'memory.updated',
  user_id: m.user_id,
  data: {
    ...ref(m, source),
    content: m.content,
    metadata: m.metadata as Record<string, unknown>,
    previous: { content: previous.content, metadata: previous.metadata as Record<string, unknown> },
    updated_at: new Date(m.updated_at).toISOString(),
  },
});

export const supersededEvent = (m: Memory, supersededBy: string | null, source: string): WebhookEvent => ({
  type: 'memory.superseded',
  user_id: m.user_id,
  data: { ...ref(m, source), superseded_by: supersededBy, valid_to: new Date(m.valid_to!).toISOString() },
});

export const deletedEvent = (m: Ref, source: string): WebhookEvent => ({
  type: 'memory.deleted',
  user_id: m.user_id,
  data: ref(m, source),
});

/** A history row: what the memory held before and after (null: nothing, or erased). */
export function historyRow(id: string, event: repo.HistoryEvent, old: Content | null, now: Content | null, source: string): NewHistory {
  return {
    id: randomUUID(),
    memory_id: id,
    event,
    old_content: old?.content ?? null,
    new_content: now?.content ?? null,
    old_metadata: old?.metadata ?? null,
    new_metadata: now?.metadata ?? null,
    source,
  };
}

/** The history row of a memory just added. */
export const addedHistory = (m: NewMemory, source: string): NewHistory => ({
  id: randomUUID(),
  memory_id: m.id,
  event: 'ADD',
  old_content: null,
  new_content: m.content,
  old_metadata: null,
  new_metadata: m.metadata,
  source,
});
