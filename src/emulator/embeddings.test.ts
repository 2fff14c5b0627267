// The emulator's /embeddings over HTTP, read by agentmem's own OpenAI-compatible embedder client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRemoteEmbedder } from '../memory/embedders/openai-compatible.ts';
import { startEmulator, type Emulator, type RecordedRequest } from './server.ts';

/** The `input` of a recorded embeddings request (a string or an array of them). */
const inputOf = (r: RecordedRequest) => (r.body as { input?: unknown } | undefined)?.input;

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ port: 0 });
});
after(() => emu.close());

const post = (path: string, body: unknown, signal?: AbortSignal) =>
  fetch(emu.url + path, { method: 'POST', headers: { authorization: 'Bearer sk-e', 'content-type': 'application/json' }, body: JSON.stringify(body), signal });

const cosine = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('emulator /embeddings', () => {
  test('OpenAI wire format: one unit vector per input, in order, of the asked dimensions; similar texts are near', async () => {
    const e = createRemoteEmbedder({ name: 'openai-compatible', baseUrl: `${emu.url}/v1`, apiKey: 'sk-e', model: 'text-embedding-3-small', dimensions: 64 });
    const [tea, green, cars] = await e.embed(['I like green tea', 'green tea please', 'fast cars']);
    assert.equal(tea!.length, 64);
    assert.ok(Math.abs(cosine(tea!, tea!) - 1) < 1e-9, 'unit length');
    assert.ok(cosine(tea!, green!) > 0.3 && cosine(tea!, green!) > cosine(tea!, cars!), 'shared words bring texts together');
    assert.deepEqual((await e.embed(['I like green tea']))[0], tea, 'deterministic');
    const rec = emu.embeddings.at(-1)!;
    assert.equal(rec.path, '/v1/embeddings');
    assert.deepEqual(inputOf(rec), ['I like green tea']);

    const res = await post('/v1/embeddings', { model: 'm', input: 'one text', encoding_format: 'base64' });
    const json = await res.json();
    assert.equal(json.object, 'list');
    assert.equal(json.model, 'm');
    assert.equal(json.data[0].object, 'embedding');
    assert.equal(Buffer.from(json.data[0].embedding, 'base64').length, 1536 * 4, 'default 1536 dimensions, float32 in base64');
    assert.ok(json.usage.prompt_tokens > 0 && json.usage.total_tokens === json.usage.prompt_tokens);
  });

  test('what OpenAI refuses is a 400 invalid_request_error; no key is a 401', async () => {
    for (const body of [
      { model: 'm' },
      { model: 'm', input: [] },
      { model: 'm', input: [''] },
      { model: 'm', input: 'x', dimensions: 0 },
      { input: 'x' },
      { model: 'm', input: 'x', encoding_format: 'hex' },
    ]) {
      const res = await post('/v1/embeddings', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal((await res.json()).error.type, 'invalid_request_error');
    }
    const res = await fetch(`${emu.url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'm', input: 'x' }) });
    assert.equal(res.status, 401);
  });

  test('~embed_ms delays the answer; a client that leaves is recorded as closed', async () => {
    const t0 = performance.now();
    const res = await post('/~embed_ms=300/v1/embeddings', { model: 'm', input: 'slow' });
    assert.equal(res.status, 200);
    await res.json();
    assert.ok(performance.now() - t0 >= 290, `answered after the delay: ${performance.now() - t0} ms`);
    assert.equal(emu.embeddings.at(-1)!.options.embed_ms, '300');

    const ac = new AbortController();
    const leaving = post('/~embed_ms=5000/v1/embeddings', { model: 'm', input: 'never answered' }, ac.signal);
    while (!emu.embeddings.some((r) => inputOf(r) === 'never answered')) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await leaving.catch(() => {});
    const rec = emu.embeddings.find((r) => inputOf(r) === 'never answered')!;
    const end = Date.now() + 2_000;
    while (rec.closedAt === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    assert.ok(rec.closedAt !== undefined && rec.closedAt - rec.receivedAt < 2_000, 'closed long before its 5 s delay');
  });
});
