// Adding memories, one or many (the API, imports): all or nothing, written in bounded pieces.
// A write that repeats a current fact of its scope (same text once normalized) is reported
// as a duplicate and not stored again.
import { randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../store/db.ts';
import * as repo from '../store/repos/memories.ts';
import type { NewMemory } from '../store/repos/memories.ts';
import { loopTurn, writeChunks } from '../store/write-chunks.ts';
import { emitEvents } from '../webhooks/outbox.ts';
import { factKey } from '../keys.ts';
import type { Embedder } from './embedders/index.ts';
import { resolveRelativeDates } from './relative-dates.ts';
import { addedHistory, createdEvent, deletedEvent } from './memory-events.ts';
import type { MemoryEmbedding } from './memory-embedding.ts';
import { docOf, type MemoryWrites } from './memory-write.ts';
import type { AddResult, MemoryDeps, NewMemoryInput } from './memory-types.ts';

const rowOf = (it: NewMemoryInput, now: Date): NewMemory => ({
  id: randomUUID(),
  agent_id: it.agent_id ?? null,
  user_id: it.user_id ?? null,
  content: it.said_at ? resolveRelativeDates(it.content, it.said_at) : it.content,
  metadata: it.metadata ?? {},
  embedding: '',
  embedder: '',
  created_at: now,
  ...(it.said_at ? { valid_from: it.said_at } : {}),
});

export function createAddMany(db: Db, embedding: MemoryEmbedding, writes: MemoryWrites, onVectorsPending?: MemoryDeps['onVectorsPending']) {
  /**
   * Adds many memories at once, all or nothing; returns ids in input order. Written in bounded
   * pieces (store/write-chunks.ts), each embedded, then inserted with its history rows in one
   * transaction, the event loop turning between them, so a large batch holds neither the
   * store's connection nor the loop for long. A failing piece deletes the pieces before it.
   * An item whose fact its scope already holds (or an earlier item of the batch) is not
   * written: its id is that memory's, and it is listed in `duplicates`.
   */
  return async function addMany(orgId: string, items: NewMemoryInput[], source = 'api'): Promise<AddResult> {
    const now = new Date();
    const rows = items.map((it) => rowOf(it, now));
    // One embedder per agent (an unknown agent fails here, before anything is written).
    const embedders = new Map<string | null, Embedder | null>();
    for (const r of rows) if (!embedders.has(r.agent_id)) embedders.set(r.agent_id, await embedding.embedderOf(orgId, r.agent_id));
    const result: AddResult = { ids: rows.map((r) => r.id), duplicates: [] };
    const seen = new Map<string, string>(); // scope + fact key → the id holding it
    const position = new Map(rows.map((r, i) => [r, i]));
    const written: NewMemory[] = [];
    const announce: Array<() => void> = [];
    try {
      for (const all of writeChunks(rows, (r) => r.content.length)) {
        const piece = await newFacts(all);
        if (!piece.length) continue;
        await embedding.embedPiece(piece, embedders);
        announce.push(await db.transaction((tx) => insertPiece(tx, orgId, piece, source)));
        written.push(...piece);
        await loopTurn();
      }
    } catch (err) {
      if (written.length) await undo(orgId, written, source);
      throw err;
    }
    for (const piece of writeChunks(written, (r) => r.content.length)) {
      for (const r of piece) writes.indexed(orgId, { ...docOf(r), embedder: undefined });
      await loopTurn();
    }
    for (const a of announce) a();
    return result;

    /** The rows of a piece whose fact is new; each duplicate takes its holder's id. */
    async function newFacts(all: NewMemory[]): Promise<NewMemory[]> {
      const keys = await repo.duplicatesOf(db, orgId, all);
      return all.filter((r, i) => {
        const key = factKey(r.agent_id, r.user_id, keys[i]!.key);
        const holder = keys[i]!.existing ?? seen.get(key);
        if (holder) {
          const index = position.get(r)!;
          result.ids[index] = holder;
          result.duplicates.push({ index, duplicate_of: holder });
          return false;
        }
        seen.set(key, r.id);
        return true;
      });
    }
  };

  async function insertPiece(tx: Queryable, orgId: string, piece: NewMemory[], source: string) {
    await repo.insertMemories(tx, orgId, piece);
    await onVectorsPending?.(tx, orgId, piece); // vectors pending (issue 28)
    await repo.insertHistory(
      tx,
      orgId,
      piece.map((r) => addedHistory(r, source)),
    );
    await emitEvents(
      tx,
      orgId,
      piece.map((r) => createdEvent(r, source)),
    );
    return writes.bump(tx, orgId, piece);
  }

  /**
   * Undone: the pieces already written go (an instance that read them meanwhile sees the version
   * move), and so do their memory.created events' effect (memory.deleted follows them).
   */
  async function undo(orgId: string, written: NewMemory[], source: string): Promise<void> {
    await db
      .transaction(async (tx) => {
        await repo.deleteMemoriesWithHistory(
          tx,
          orgId,
          written.map((r) => r.id),
        );
        await emitEvents(
          tx,
          orgId,
          written.map((r) => deletedEvent(r, source)),
        );
        return writes.bump(tx, orgId, written);
      })
      .then((announceUndo) => announceUndo())
      .catch(() => {});
  }
}
