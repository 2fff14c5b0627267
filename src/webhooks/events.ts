// The events an organization's webhook endpoints can subscribe to, and what each one's
// `data` holds. A delivery's body is `{type, timestamp, data}` (the Standard Webhooks
// payload shape); the outbox row is written in the transaction of the change
// (store/repos/webhooks.ts enqueueEvents), so an event exists exactly when its change does.

/** Events emitted today. */
export const WEBHOOK_EVENTS = [
  'memory.created',
  'memory.updated',
  'memory.deleted',
  'session.summarized',
  'import.completed',
  'working_memory.updated',
  'memory.superseded',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

export const SUBSCRIBABLE_EVENTS: readonly WebhookEventType[] = WEBHOOK_EVENTS;

interface MemoryRef {
  id: string;
  agent_id: string | null;
  user_id: string | null;
  /** what made the change: "api", "mcp", "extraction:<job>", "forget_user", … */
  source: string;
}

export interface WebhookEventData {
  'memory.created': MemoryRef & { content: string; metadata: Record<string, unknown>; created_at: string };
  'memory.updated': MemoryRef & {
    content: string;
    metadata: Record<string, unknown>;
    previous: { content: string; metadata: Record<string, unknown> };
    updated_at: string;
  };
  /** no content: the memory is gone, and a deleted memory's text is not sent on */
  'memory.deleted': MemoryRef;
  /** a fact that ended (extraction deleted it, or another memory holds it now: `superseded_by`); kept for `as_of` and the history */
  'memory.superseded': MemoryRef & { superseded_by: string | null; valid_to: string };
  'session.summarized': { session_id: string; agent_id: string; user_id: string | null; summary: string; summarized_through: string };
  'import.completed':
    | { kind: 'session'; session_id: string; agent_id: string; user_id: string | null; messages: number }
    | { kind: 'organization'; inserted: Record<string, number>; skipped: Record<string, number> };
  'working_memory.updated': { agent_id: string; scope: 'user' | 'session'; owner: string; content: string; updated_at: string };
}

/** One event to enqueue: its type, the end user it concerns (if any) and its data. */
export type WebhookEvent = {
  [T in WebhookEventType]: { type: T; user_id: string | null; data: WebhookEventData[T] };
}[WebhookEventType];
