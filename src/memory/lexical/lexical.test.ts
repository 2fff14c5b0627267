// The lexical pieces on their own: tokens (stems, stopwords, CJK, dates) and BM25 statistics.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Bm25Index, idf, searchIndexes, searchIndexesInSteps, STEP, type RankingOptions } from './bm25.ts';
import { MEMORY_RANKING } from '../recall-config.ts';
import { extractDates } from './dates.ts';
import { analyze } from './tokens.ts';

describe('lexical analysis', () => {
  test('English: stopwords dropped, words stemmed, irregular past forms to their verb', () => {
    assert.deepEqual(analyze('Where did I go hiking?'), ['go', 'hike']);
    assert.deepEqual(analyze('I went hiking in the Alps'), ['go', 'hike', 'alp']);
    assert.deepEqual(analyze("Kate's dogs"), ['kate', 'dog']);
  });

  test('CJK: characters and neighbouring pairs', () => {
    assert.deepEqual(analyze('北京烤鸭'), ['北', '北京', '京', '京烤', '烤', '烤鸭', '鸭']);
    assert.ok(analyze('我最喜欢吃烤鸭').includes('烤鸭'));
  });

  test('dates in any common form give the same tokens; a month question meets a dated memory', () => {
    const day = ['#md05-07', '#d2023-05-07'];
    for (const text of ['2023-05-07', 'May 7th, 2023', '7 May 2023', '07.05.2023', '2023年5月7日', '7th of May 2023']) {
      const { tokens } = extractDates(`on ${text} we met`);
      for (const t of [...day, '#m2023-05', '2023']) assert.ok(tokens.includes(t), `${text}: ${tokens.join(' ')}`);
    }
    assert.deepEqual(extractDates('What did I do in May 2023?').tokens, ['2023', '#m2023-05']);
    assert.deepEqual(extractDates('我5月2日去了博物馆').tokens, ['#md05-02']);
    assert.deepEqual(extractDates('in 13.13.2023 nothing').tokens, [], 'not a date');
    assert.ok(!analyze('I may go').includes('#m'), '"may" alone is no month');
  });
});

describe('BM25 index', () => {
  const put = (ix: Bm25Index<string>, id: string, text: string) => ix.put(id, id, analyze(text));

  test('a rare word outweighs a common one; statistics follow removals and replacements', () => {
    const ix = new Bm25Index<string>();
    for (let i = 0; i < 20; i++) put(ix, `c${i}`, `I had coffee this morning number ${i}`);
    put(ix, 'rare', 'I had a croissant');
    put(ix, 'common', 'coffee coffee and more coffee');
    const top = searchIndexes([ix], analyze('coffee croissant'), 3);
    assert.equal(top[0]!.doc, 'rare', 'the rare word wins over three of the common one');
    assert.equal(ix.documentFrequency('coffe'), 21);
    // delete 15 coffee memories: coffee gets rarer, its IDF rises
    const before = idf(ix.size, ix.documentFrequency('coffe'));
    for (let i = 0; i < 15; i++) ix.remove(`c${i}`);
    assert.equal(ix.size, 7);
    assert.equal(ix.documentFrequency('coffe'), 6);
    assert.ok(idf(ix.size, ix.documentFrequency('coffe')) > before);
    // replacing content moves the document to its new terms, once
    put(ix, 'rare', 'I had tea');
    assert.equal(ix.documentFrequency('croissant'), 0);
    assert.deepEqual(searchIndexes([ix], analyze('croissant'), 3), []);
    assert.equal(searchIndexes([ix], analyze('tea'), 3)[0]!.doc, 'rare');
    assert.equal(ix.size, 7);
  });

  test('length normalization: the short memory with the word beats the long one', () => {
    const ix = new Bm25Index<string>();
    put(ix, 'short', 'I play chess');
    put(ix, 'long', 'I play chess sometimes but mostly I read novels, cook dinner, walk the dog and garden on weekends');
    put(ix, 'other', 'I like tea');
    assert.deepEqual(
      searchIndexes([ix], analyze('chess'), 2).map((h) => h.doc),
      ['short', 'long'],
    );
  });

  test('compaction after many removals keeps every live document findable', () => {
    const ix = new Bm25Index<string>();
    for (let i = 0; i < 3_000; i++) put(ix, `m${i}`, `memory ${i} word${i % 7}`);
    for (let i = 0; i < 2_500; i++) ix.remove(`m${i}`);
    assert.equal(ix.size, 500);
    const hits = searchIndexes([ix], analyze('word3'), 1_000).map((h) => h.doc);
    assert.equal(hits.length, Array.from({ length: 500 }, (_, k) => k + 2_500).filter((i) => i % 7 === 3).length);
    assert.ok(hits.every((id) => Number(id.slice(1)) >= 2_500));
  });

  test('several scopes searched as one share their statistics', () => {
    const a = new Bm25Index<string>();
    const b = new Bm25Index<string>();
    put(a, 'a1', 'sushi in Tokyo');
    for (let i = 0; i < 10; i++) put(b, `b${i}`, `sushi ${i}`);
    put(b, 'b-tokyo', 'Tokyo trip');
    const hits = searchIndexes([a, b], analyze('sushi Tokyo'), 3);
    assert.equal(hits[0]!.doc, 'a1');
    assert.equal(hits[0]!.coverage, 1);
    assert.ok(hits[1]!.coverage < 1);
  });

  test('ranking: the coordination factor prefers the memory with every word; RM3 finds one that shares none with the question; a verbose query is left alone', () => {
    const ix = new Bm25Index<string>();
    put(ix, 'both', 'we had pizza in Naples');
    put(ix, 'one', 'Naples Naples Naples, what a city, Naples');
    for (let i = 0; i < 8; i++) put(ix, `pizza${i}`, `pizza night number ${i} with friends`);
    for (let i = 0; i < 6; i++) put(ix, `filler${i}`, `a quiet day at home ${i}`);
    put(ix, 'ski1', 'I went skiing with the snowboard club in the Alps');
    put(ix, 'ski2', 'skiing in the Alps with the snowboard club again');
    put(ix, 'board', 'the snowboard club meets in the Alps in January');
    const docs = (q: string, r = MEMORY_RANKING) => searchIndexes([ix], analyze(q), 5, undefined, r).map((h) => h.doc);
    assert.equal(docs('pizza Naples', { coord: true })[0], 'both');

    assert.ok(!docs('skiing', {}).includes('board'), 'BM25 alone: no shared word, not found');
    const expanded = searchIndexes([ix], analyze('skiing'), 5, undefined, MEMORY_RANKING);
    assert.ok(expanded.map((h) => h.doc).includes('board'), 'RM3: found through the words of the skiing memories');
    assert.equal(expanded.find((h) => h.doc === 'board')!.coverage, 0, 'coverage is that of the question as asked');

    const verbose = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ') + ' skiing';
    assert.deepEqual(docs(verbose), docs(verbose, {}), 'more distinct words than maxQueryWords: plain BM25');
  });

  test('ranking in Chinese: a short question is not verbose for its bigrams, so RM3 reaches a memory that names what the question only describes', () => {
    const ix = new Bm25Index<string>();
    put(ix, 'home', '我住的那个小区叫绿洲家园。');
    put(ix, 'review', '绿洲家园绿化做得好，环境也漂亮，就是商业配套差点意思。');
    for (let i = 0; i < 6; i++) put(ix, `park${i}`, `我去的那个公园环境不错，第${i}次去了。`);
    for (let i = 0; i < 6; i++) put(ix, `phone${i}`, `我的手机是第${i}代的，拍照效果好。`);
    const question = '我住的那个小区周边的环境到底怎么样来着？';
    assert.ok(new Set(analyze(question)).size > MEMORY_RANKING.maxQueryWords!, 'more terms than the limit, counting bigrams');
    const docs = (r: RankingOptions) => searchIndexes([ix], analyze(question), 3, undefined, r).map((h) => h.doc);
    assert.ok(!docs({}).includes('review'), 'BM25 alone: the parks share more of the question');
    assert.ok(docs(MEMORY_RANKING).includes('review'), 'RM3: found through "绿洲家园" of the best match');
  });

  test('a large search in steps: the same answer as in one go, other work runs between its steps, a delete meanwhile is not returned', async () => {
    const things = 'coffee tea sushi jazz chess tennis hiking guitar piano yoga Berlin Paris Tokyo Lisbon'.split(' ');
    const a = new Bm25Index<string>();
    const b = new Bm25Index<string>();
    for (let i = 0; i < 3 * STEP; i++) {
      const text = `I like ${things[i % things.length]} and ${things[(i * 7 + 3) % things.length]} (note ${i})`;
      put(i % 3 ? a : b, `m${i}`, text);
    }
    for (const q of ['Do I like sushi and jazz?', 'tea in Lisbon', 'note 4711', 'chess']) {
      const whole = searchIndexes([a, b], analyze(q), 10, undefined, MEMORY_RANKING);
      assert.ok(whole.length, q);
      assert.deepEqual(await searchIndexesInSteps([a, b], analyze(q), 10, undefined, MEMORY_RANKING, 0), whole, q);
    }
    // the event loop turns while a search is under way: a timer set before it fires before it ends
    let turned = false;
    setImmediate(() => (turned = true));
    const searching = searchIndexesInSteps([a, b], analyze('sushi jazz'), 10, undefined, MEMORY_RANKING, 0);
    assert.equal(turned, false);
    const top = searchIndexes([a, b], analyze('note 6000'), 1)[0]!.doc;
    assert.equal(top, 'm6000');
    await searching;
    assert.ok(turned, 'the search gave the event loop a turn');
    // a document deleted between two steps (it sits past the first step) is not returned
    const late = searchIndexesInSteps([a, b], analyze('note 6000'), 5, undefined, {}, 0);
    (6000 % 3 ? a : b).remove('m6000');
    assert.ok(!(await late).some((h) => h.doc === 'm6000'));
    // below STEPPED_MIN documents a search runs in one go: nothing else runs before it ends
    let before = false;
    setImmediate(() => (before = true));
    await searchIndexesInSteps([a, b], analyze('sushi jazz'), 10, undefined, MEMORY_RANKING);
    assert.equal(before, false, 'a small search does not step');
  });
});
