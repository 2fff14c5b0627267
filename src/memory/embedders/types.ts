// What recall and memory writes need from an embedding model, and nothing more.
// Vectors stored in the database are tagged with `id`, so a model or dimension
// change is visible instead of silently comparing vectors from different spaces.

export interface Embedder {
  /** stable identity of the vector space, e.g. "local:256" or "openai:text-embedding-3-small" */
  id: string;
  dimensions: number;
  /**
   * Writes do not wait for this embedder's vectors: a memory is stored at once (found by the
   * text side) and embedded later by a background job (memory/reembed.ts). For a model that
   * costs real CPU per text (local-neural: ~10 ms), where a bulk import would otherwise hold
   * its request for minutes.
   */
  background?: boolean;
  /** one vector per text, in order; each of length `dimensions` */
  embed(texts: string[]): Promise<number[][]>;
  /** releases what it holds (a worker thread); a later embed may start again */
  close?(): Promise<void>;
}
