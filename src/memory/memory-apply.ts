// Extraction's decisions (ADD / UPDATE / DELETE, memory-decision.ts) applied for one agent and
// user in one transaction. UPDATE and DELETE supersede (the old fact stays, ended by the
// message that changed it); an ADD (or UPDATE) whose fact a current memory of the scope
// already holds is a DUPLICATE.
import { randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../store/db.ts';
import * as repo from '../store/repos/memories.ts';
import type { Memory, NewMemory } from '../store/repos/memories.ts';
import { emitEvents } from '../webhooks/outbox.ts';
import type { Embedder } from './embedders/index.ts';
import { hasText, type MemoryDecision, type MemoryWrite } from './memory-decision.ts';
import type { MemoryEmbedding } from './memory-embedding.ts';
import { addedHistory, createdEvent } from './memory-events.ts';
import type { MemoryChange, Superseded } from './memory-types.ts';
import { docOf, type IndexedDoc, type MemoryWrites } from './memory-write.ts';
import { resolveRelativeDates } from './relative-dates.ts';

type Scope = { agent_id: string; user_id: string | null };

/** What one transaction of decisions did, for after it commits. */
interface Applied {
  changes: MemoryChange[];
  /** rows to put in the index, or to take out */
  index: Array<{ put: IndexedDoc } | { remove: Memory }>;
  ended: Superseded[];
}

/** Everything one decision needs inside the transaction. */
interface Step {
  tx: Queryable;
  orgId: string;
  scope: Scope;
  source: string;
  endedBy: string | null;
  metadata: Record<string, unknown>;
  embedder: Embedder | null;
  vector: string | null;
  applied: Applied;
}

export function createApply(db: Db, embedding: MemoryEmbedding, writes: MemoryWrites) {
  /**
   * Applies extraction decisions for one agent and user in one transaction; ADDed memories
   * get `metadata` (e.g. the session and message they came from). Ids that vanished meanwhile are skipped.
   * UPDATE and DELETE are ended by `metadata.message_id`.
   * `saidAt`: when the conversation happened; relative dates in the facts resolve from it.
   */
  return async function apply(
    orgId: string,
    scope: Scope,
    decisions: MemoryDecision[],
    source: string,
    metadata: Record<string, unknown> = {},
    saidAt: Date = new Date(),
  ): Promise<MemoryChange[]> {
    const todo = decisions
      .filter((d): d is MemoryWrite => d.event !== 'NONE' && (hasText(d) ? !!d.text : !!d.id))
      .map((d) => (hasText(d) ? { ...d, text: resolveRelativeDates(d.text, saidAt) } : d));
    if (!todo.length) return []; // most exchanges change nothing: no transaction for them
    const embedder = await embedding.embedderOf(orgId, scope.agent_id);
    const texts = todo.filter(hasText).map((d) => d.text);
    const vectors = texts.length ? await embedding.embedAll(embedder, texts) : [];
    const endedBy = typeof metadata.message_id === 'string' ? metadata.message_id : null;
    const applied: Applied = { changes: [], index: [], ended: [] };
    let announce = () => {};
    await db.transaction(async (tx) => {
      // A job that committed and then died before being marked done runs again: same source, no second apply.
      if (await repo.historyHasSource(tx, orgId, source)) return;
      let v = 0;
      for (const d of todo) {
        const step: Step = { tx, orgId, scope, source, endedBy, metadata, embedder, vector: hasText(d) ? vectors[v++]! : null, applied };
        if (d.event === 'ADD') await add(step, d.text);
        else if (d.event === 'UPDATE') await update(step, d.id, d.text);
        else await end(step, d.id);
      }
      if (applied.index.length)
        announce = await writes.bump(
          tx,
          orgId,
          applied.index.map((a) => ('put' in a ? a.put : a.remove)),
        );
    });
    for (const a of applied.index) 'put' in a ? writes.indexed(orgId, a.put) : writes.unindexed(orgId, a.remove);
    announce();
    writes.superseded(orgId, applied.ended);
    return applied.changes;
  };

  /** The current memory holding a fact (decisions earlier in this batch included). */
  async function holderOf(s: Step, text: string): Promise<string | undefined> {
    const [dup] = await repo.duplicatesOf(s.tx, s.orgId, [{ ...s.scope, content: text }]);
    return dup!.existing ?? undefined;
  }

  async function add(s: Step, text: string): Promise<void> {
    const holder = await holderOf(s, text);
    if (holder) return void s.applied.changes.push({ event: 'DUPLICATE', memory_id: holder, content: text });
    const row: NewMemory = {
      id: randomUUID(),
      agent_id: s.scope.agent_id,
      user_id: s.scope.user_id,
      content: text,
      metadata: s.metadata,
      embedding: s.vector,
      embedder: s.embedder?.id ?? null,
      created_at: new Date(),
    };
    await repo.insertMemories(s.tx, s.orgId, [row]);
    s.applied.index.push({ put: docOf(row) });
    await repo.insertHistory(s.tx, s.orgId, [addedHistory(row, s.source)]);
    await emitEvents(s.tx, s.orgId, [createdEvent(row, s.source)]);
    s.applied.changes.push({ event: 'ADD', memory_id: row.id, content: row.content });
  }

  async function update(s: Step, id: string, text: string): Promise<void> {
    const holder = await holderOf(s, text);
    if (holder === id) return void s.applied.changes.push({ event: 'DUPLICATE', memory_id: holder, content: text });
    // Another memory holds the new fact already: this one ends, superseded by it.
    const replace = { content: text, embedding: s.vector, embedder: s.embedder?.id ?? null, metadata: null };
    const done = await writes.supersede(s.tx, s.orgId, id, holder ? { successor: holder } : { replace }, s.endedBy, s.source);
    if (!done) return;
    s.applied.ended.push(done.ended);
    if (holder) {
      s.applied.index.push({ remove: done.memory });
      s.applied.changes.push({ event: 'DELETE', memory_id: id, content: null }, { event: 'DUPLICATE', memory_id: holder, content: text });
    } else {
      s.applied.index.push({ put: done.memory });
      s.applied.changes.push({ event: 'UPDATE', memory_id: id, content: text });
    }
  }

  async function end(s: Step, id: string): Promise<void> {
    const done = await writes.supersede(s.tx, s.orgId, id, {}, s.endedBy, s.source);
    if (!done) return;
    s.applied.ended.push(done.ended);
    s.applied.index.push({ remove: done.memory });
    s.applied.changes.push({ event: 'DELETE', memory_id: id, content: null });
  }
}
