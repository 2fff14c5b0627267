import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalEmbedder, localVector } from './local.ts';

const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: number[]) => Math.sqrt(dot(a, a));

test('identity and shape', async () => {
  const e = createLocalEmbedder();
  assert.equal(e.id, 'local:256');
  assert.equal(e.dimensions, 256);
  const small = createLocalEmbedder({ dimensions: 64 });
  assert.equal(small.id, 'local:64');
  const [v] = await small.embed(['hello']);
  assert.equal(v?.length, 64);
  assert.throws(() => createLocalEmbedder({ dimensions: 0 }), RangeError);
  assert.throws(() => createLocalEmbedder({ dimensions: 1.5 }), RangeError);
});

test('deterministic across calls and embedder instances', async () => {
  const texts = ['I live in Berlin', '我住在柏林', 'émoji 😀 ok'];
  const a = await createLocalEmbedder().embed(texts);
  const b = await createLocalEmbedder().embed(texts);
  assert.deepEqual(a, b);
  assert.equal(a.length, 3);
});

test('unit norm, so cosine is a dot product', async () => {
  const vs = await createLocalEmbedder().embed(['I live in Berlin', '我住在柏林', 'a', '42', 'Ünïcödé ﬁ']);
  for (const v of vs) assert.ok(Math.abs(norm(v) - 1) < 1e-9, `norm ${norm(v)}`);
});

test('empty or letterless text gives a zero vector, not NaN', async () => {
  const vs = await createLocalEmbedder().embed(['', '   ', '?!…', '😀']);
  for (const v of vs) {
    assert.equal(v.length, 256);
    assert.ok(v.every((x) => x === 0));
  }
});

test('shared words score higher than unrelated text', () => {
  const home = localVector('I live in Berlin');
  const question = localVector('Where do I live? Berlin');
  const food = localVector('my favourite food is sushi');
  assert.ok(dot(home, question) > 0.5, `related ${dot(home, question)}`);
  assert.ok(dot(home, question) > dot(home, food) + 0.4);
  assert.ok(dot(question, food) < 0.2);
});

test('word pieces survive typos and spelling variants', () => {
  const food = localVector('my favourite food is sushi');
  const variant = localVector('what is my favorite food');
  const home = localVector('I live in Berlin');
  assert.ok(dot(food, variant) > dot(food, home) + 0.3);
  assert.ok(dot(localVector('Berlin'), localVector('Berlinn')) > 0.4);
  assert.ok(Math.abs(dot(localVector('Berlin'), localVector('sushi'))) < 0.2);
});

test('case and NFKC normalization', () => {
  assert.deepEqual(localVector('BERLIN'), localVector('berlin'));
  // fullwidth letters and the ﬁ ligature normalize to their plain forms
  assert.deepEqual(localVector('ＢＥＲＬＩＮ'), localVector('berlin'));
  assert.deepEqual(localVector('ﬁsh'), localVector('fish'));
});

test('Chinese overlap works without spaces', () => {
  const home = localVector('我住在柏林');
  const question = localVector('我住在哪里？柏林');
  const food = localVector('我最喜欢的食物是寿司');
  assert.ok(dot(home, question) > 0.5, `related ${dot(home, question)}`);
  assert.ok(dot(home, question) > dot(home, food) + 0.4);
});

test('mixed scripts: a Latin word glued to Chinese still matches both', () => {
  const mixed = localVector('iPhone手机');
  assert.ok(dot(mixed, localVector('iphone')) > 0.3);
  assert.ok(dot(mixed, localVector('手机')) > 0.3);
});

test('no meaning: synonyms with no shared pieces do not match', () => {
  assert.ok(Math.abs(dot(localVector('car'), localVector('automobile'))) < 0.2);
});
