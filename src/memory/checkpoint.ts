// Checkpoints of an answer while it streams: what was said so far, written about every
// second so a crash keeps it (crash.test.ts). Each write appends only what is new (the stored
// copy's length guards it); the whole text is written only when the stored copy is not what
// was sent. One write at a time per answer; a failed one's text goes with the next, and the
// final write (history.ts finish) goes after the last of them.
import type { Db } from '../store/db.ts';
import * as messages from '../store/repos/messages.ts';

interface Progress {
  /** UTF-8 bytes of the answer stored by its checkpoints */
  bytes: number;
  /** text said since, not yet written */
  unsent: string;
  /** all the text passed so far (written whole only when the stored copy must be replaced) */
  said: () => string;
  /** no streaming row took the whole text: the answer ended elsewhere */
  stopped: boolean;
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

async function writeCheckpoint(db: Db, id: string, p: Progress): Promise<void> {
  if (p.stopped || !p.unsent) return;
  // A trailing high surrogate waits for its pair (encoded alone it would be stored as U+FFFD).
  const cut = isHighSurrogate(p.unsent.charCodeAt(p.unsent.length - 1)) ? p.unsent.length - 1 : p.unsent.length;
  if (cut === 0) return;
  const part = p.unsent.slice(0, cut);
  p.unsent = p.unsent.slice(cut);
  try {
    if (await messages.appendCheckpoint(db, id, p.bytes, part)) {
      p.bytes += Buffer.byteLength(part);
      return;
    }
    // The stored copy is not what was sent (a write whose answer was lost), or the row has
    // ended: the whole text, once; when no streaming row takes it either, checkpoints stop.
    const said = p.said();
    const whole = said.slice(0, said.length - p.unsent.length);
    if (await messages.checkpointMessage(db, id, whole)) p.bytes = Buffer.byteLength(whole);
    else p.stopped = true;
  } catch (err) {
    p.unsent = part + p.unsent;
    throw err;
  }
}

export function createCheckpoints(db: Db) {
  // Per streaming answer: the write in flight, and the UTF-8 bytes stored, the text not yet sent.
  const saving = new Map<string, Promise<void>>();
  const progress = new Map<string, Progress>();

  return {
    /**
     * Saves the partial answer `id`: `added` is what came since the last call, `said()` all of
     * it. Starts once `after` (the turn's first write) settles.
     */
    save(id: string, after: Promise<void>, added: string, said: () => string): void {
      let p = progress.get(id);
      if (!p) progress.set(id, (p = { bytes: 0, unsent: '', said, stopped: false }));
      p.unsent += added;
      const state = p;
      const next = (saving.get(id) ?? after)
        .then(() => writeCheckpoint(db, id, state))
        .then(
          () => undefined,
          () => undefined,
        );
      saving.set(id, next);
    },

    /** Waits for the answer's last checkpoint and forgets it (its final write goes next). */
    async settle(id: string): Promise<void> {
      await saving.get(id);
      saving.delete(id);
      progress.delete(id);
    },
  };
}
