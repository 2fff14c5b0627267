import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonObjectOf } from './answer-json.ts';

const want = { memory: [{ event: 'ADD', text: 'Ada likes tea' }] };

test('plain JSON, fenced JSON, JSON after a <think> block with braces, JSON in prose', () => {
  const json = JSON.stringify(want);
  assert.deepEqual(jsonObjectOf(json), want);
  assert.deepEqual(jsonObjectOf('```json\n' + json + '\n```'), want);
  assert.deepEqual(jsonObjectOf(`<think>The user said {tea}; maybe {"memory": []}? No.</think>\n${json}`), want);
  assert.deepEqual(jsonObjectOf(`Sure! Here it is:\n${json}\nHope that helps {:}`), want);
  assert.deepEqual(jsonObjectOf(`I think {this} matters. ${json} and {that}`), want);
  assert.deepEqual(jsonObjectOf(`reasoning cut before its close</think>${json}`), want);
});

test('nothing usable is undefined, never a throw', () => {
  for (const s of ['', 'no json here', '{not json}', '[1, 2]', '<think>{"a": 1}</think>', '```json\n{broken\n```']) assert.equal(jsonObjectOf(s), undefined, s);
});
