// The emulator's `/embeddings`: OpenAI's wire format (POST {model, input: string |
// string[], dimensions?, encoding_format?: float|base64} → {object: 'list', data:
// [{object: 'embedding', index, embedding}], model, usage}), with vectors that are
// deterministic and mean something: each word adds ±1 at a hashed position, so texts
// sharing words are near each other. `~embed_ms=` delays the answer (a slow embedder).

const DEFAULT_DIMENSIONS = 1536; // text-embedding-3-small
const MAX_DIMENSIONS = 3072;
const MAX_INPUTS = 2048;

export type EmbeddingsRequest =
  { ok: true; inputs: string[]; model: string; dimensions: number; base64: boolean } | { ok: false; status: number; body: string };

/** The request's inputs and settings, or OpenAI's 400 for what it would refuse. */
export function parseEmbeddingsRequest(raw: unknown): EmbeddingsRequest {
  const b = (raw ?? {}) as { model?: unknown; input?: unknown; dimensions?: unknown; encoding_format?: unknown };
  const inputs = typeof b.input === 'string' ? [b.input] : b.input;
  if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > MAX_INPUTS || !inputs.every((x) => typeof x === 'string' && x !== '')) {
    return invalid("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'input');
  }
  if (typeof b.model !== 'string' || !b.model) return invalid('you must provide a model parameter', 'model');
  const dimensions = b.dimensions === undefined ? DEFAULT_DIMENSIONS : b.dimensions;
  if (typeof dimensions !== 'number' || !Number.isInteger(dimensions) || dimensions < 1 || dimensions > MAX_DIMENSIONS) {
    return invalid(`Invalid value for 'dimensions' = ${String(b.dimensions)}. Must be an integer between 1 and ${MAX_DIMENSIONS}.`, 'dimensions');
  }
  if (b.encoding_format !== undefined && b.encoding_format !== 'float' && b.encoding_format !== 'base64') {
    return invalid("'encoding_format' must be one of 'float', 'base64'.", 'encoding_format');
  }
  return { ok: true, inputs: inputs as string[], model: b.model, dimensions, base64: b.encoding_format === 'base64' };
}

/** A unit vector of `dimensions` for `text`: the same text always gives the same vector. */
export function embedText(text: string, dimensions: number): number[] {
  const v = new Array<number>(dimensions).fill(0);
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [text];
  for (const w of words) {
    const h = fnv1a(w);
    v[h % dimensions]! += h & 0x80000000 ? -1 : 1;
  }
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => x / n);
}

/** The response body for a parsed request. */
export function embeddingsBody(req: Extract<EmbeddingsRequest, { ok: true }>): string {
  let tokens = 0;
  const data = req.inputs.map((text, index) => {
    tokens += Math.max(1, Math.ceil(text.length / 4));
    const e = embedText(text, req.dimensions);
    return { object: 'embedding', index, embedding: req.base64 ? Buffer.from(Float32Array.from(e).buffer).toString('base64') : e };
  });
  return JSON.stringify({ object: 'list', data, model: req.model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
}

function invalid(message: string, param: string): EmbeddingsRequest {
  return { ok: false, status: 400, body: JSON.stringify({ error: { message, type: 'invalid_request_error', param, code: null } }) };
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
