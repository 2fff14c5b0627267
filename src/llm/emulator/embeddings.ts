// `POST …/embeddings` in the OpenAI wire format, so an agent's remote embedder can run
// against the emulator too. The vectors are a hashing trick over lowercased words (±1 per
// word into `dimensions` buckets, L2-normalized): deterministic, and texts that share
// words come out similar, which is all a recall test needs.

const DEFAULT_DIMENSIONS = 1536;
const MAX_DIMENSIONS = 4096;

export type EmbeddingsAnswer = { status: 200; body: unknown } | { status: 400; message: string };

export function embeddingsAnswer(body: unknown): EmbeddingsAnswer {
  const { input, model, dimensions } = (body ?? {}) as { input?: unknown; model?: unknown; dimensions?: unknown };
  const texts = typeof input === 'string' ? [input] : input;
  if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === 'string')) {
    return { status: 400, message: "'input' must be a string or a non-empty array of strings" };
  }
  const dims = dimensions === undefined ? DEFAULT_DIMENSIONS : dimensions;
  if (typeof dims !== 'number' || !Number.isInteger(dims) || dims < 1 || dims > MAX_DIMENSIONS) {
    return { status: 400, message: `'dimensions' must be an integer from 1 to ${MAX_DIMENSIONS}` };
  }
  const tokens = texts.reduce((n, t) => n + words(t).length, 0);
  return {
    status: 200,
    body: {
      object: 'list',
      data: texts.map((t, index) => ({ object: 'embedding', index, embedding: vector(t, dims) })),
      model: typeof model === 'string' ? model : 'text-embedding-3-small',
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    },
  };
}

const words = (text: string): string[] => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

function vector(text: string, dims: number): number[] {
  const v = new Array<number>(dims).fill(0);
  for (const w of words(text)) {
    const h = fnv1a(w);
    v[h % dims]! += h & 0x8000_0000 ? -1 : 1;
  }
  const norm = Math.hypot(...v);
  if (norm === 0) v[0] = 1; // no words: still a unit vector, so cosine is defined
  return norm === 0 ? v : v.map((x) => x / norm);
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
