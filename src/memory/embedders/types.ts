// What recall and memory writes need from an embedding model, and nothing more.
// Vectors stored in the database are tagged with `id`, so a model or dimension
// change is visible instead of silently comparing vectors from different spaces.

export interface Embedder {
  /** stable identity of the vector space, e.g. "local:256" or "openai:text-embedding-3-small" */
  id: string;
  dimensions: number;
  /** one vector per text, in order; each of length `dimensions` */
  embed(texts: string[]): Promise<number[][]>;
  /** releases what it holds (a worker thread); a later embed may start again */
  close?(): Promise<void>;
}
