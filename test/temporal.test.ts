// Facts that know their time (issue 28), on both engines over HTTP: a fact replaced through
// chat extraction is superseded, not destroyed — search and recall give the current one,
// `as_of` what was true then, the history its chain; relative dates resolve from the time the
// message was said; a duplicate is reported and not stored twice (API and extraction);
// "X and Y" is two memories; an API delete and forgetting a user erase for real.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Emulator } from '../src/emulator/server.ts';
import { emulatorAgent, engines, serverAndEmulator, streamChat, type HistoryEvent, type MemoryHit, type MemoryRow, type TestServer } from './harness.ts';

/** A memory_update event of a chat stream. */
interface MemoryUpdate {
  chunk_type: string;
  event: string;
  memory_id: string;
  content: string;
}

/** A tool's answer over MCP: its text content (JSON here). */
interface ToolText {
  content: Array<{ type: string; text: string }>;
}

const M = '/api/v1/memories';
const agentBody = { name: 'timekeeper', streaming: { emit_metadata: true, emit_memory_updates: true } };

for (const engine of engines) {
  describe(`facts over time on ${engine}`, () => {
    let s: TestServer;
    let emu: Emulator;
    serverAndEmulator(engine, (w) => ({ s, emu } = w));
    const clients: Client[] = [];
    after(async () => {
      await Promise.allSettled(clients.map((c) => c.close()));
    });

    const updatesOf = (turn: { events: MemoryUpdate[] }) => turn.events.filter((e) => e.chunk_type === 'memory_update');
    const search = async (body: object) => {
      const res = await s.api('POST', `${M}/search`, { body });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return (res.body.results as MemoryHit[]).map((r) => r.content);
    };
    const current = async (agentId: string, user: string) =>
      ((await s.api('GET', `${M}?agent_id=${agentId}&user_id=${user}`)).body.data as MemoryRow[]).map((m) => m.content).sort();

    test('a fact moved through chat: search and recall say Munich, as_of before the move Berlin, the history shows the chain', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: agentBody })).body;
      const first = await streamChat(s, agent.id, { message: 'I live in Berlin.', user_id: 'mover' });
      const added = updatesOf(first)[0]!;
      assert.deepEqual([added.event, added.content], ['ADD', 'I live in Berlin']);
      await sleep(20);
      const beforeMove = new Date().toISOString();
      await sleep(20);
      const second = await streamChat(s, agent.id, { message: 'I moved to Munich.', user_id: 'mover' });
      assert.deepEqual(
        updatesOf(second).map((u) => [u.event, u.memory_id, u.content]),
        [['UPDATE', added.memory_id, 'I moved to Munich']],
      );

      const scope = { agent_id: agent.id, user_id: 'mover', query: 'where does the user live: Berlin or Munich?' };
      assert.deepEqual(await search(scope), ['I moved to Munich'], 'current facts only');
      assert.deepEqual(await search({ ...scope, as_of: beforeMove }), ['I live in Berlin'], 'what was true before the move');
      assert.deepEqual(await current(agent.id, 'mover'), ['I moved to Munich']);
      const asked = await streamChat(s, agent.id, { message: 'Do I live in Berlin or Munich?', user_id: 'mover' });
      const recalled = asked.events.find((e) => e.chunk_type === 'metadata').recalled.map((m: MemoryRow) => m.content);
      assert.ok(recalled.includes('I moved to Munich') && !recalled.includes('I live in Berlin'), JSON.stringify(recalled));

      const h = await s.api('GET', `${M}/${added.memory_id}/history`);
      assert.equal(h.status, 200);
      assert.deepEqual(
        h.body.data.map((e: HistoryEvent) => [e.event, e.old_content, e.new_content]),
        [
          ['ADD', null, 'I live in Berlin'],
          ['UPDATE', 'I live in Berlin', 'I moved to Munich'],
        ],
      );
      const [was, is] = h.body.versions;
      assert.equal(h.body.versions.length, 2);
      assert.deepEqual([was.content, was.superseded_by], ['I live in Berlin', added.memory_id]);
      assert.deepEqual([is.id, is.content, is.valid_to, is.superseded_by], [added.memory_id, 'I moved to Munich', null, null]);
      assert.ok(was.valid_from < beforeMove && beforeMove < was.valid_to, `Berlin held ${was.valid_from}..${was.valid_to}`);
      assert.equal(was.valid_to, is.valid_from, 'Munich holds from the moment Berlin stopped');
      assert.equal(typeof was.ended_by, 'string', 'the exchange that ended it');
      // the earlier version is readable by its own id, and its history is the chain's
      const old = (await s.api('GET', `${M}/${was.id}`)).body;
      assert.deepEqual([old.content, old.superseded_by], ['I live in Berlin', added.memory_id]);
      assert.equal((await s.api('GET', `${M}/${was.id}/history`)).body.memory_id, added.memory_id);
      const patched = await s.api('PATCH', `${M}/${was.id}`, { body: { content: 'I live in Hamburg' } });
      assert.equal(patched.status, 409, 'an earlier version is not changed');
      assert.equal(patched.body.error.code, 'conflict');

      // the memory tools: memory_search over MCP takes as_of too
      const client = new Client({ name: 'temporal-test', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${s.adminKey}` } } }));
      clients.push(client);
      const tool = async (args: object) => {
        const r = (await client.callTool({
          name: 'memory_search',
          arguments: { query: scope.query, agent_id: agent.id, user_id: 'mover', ...args },
        })) as ToolText;
        return JSON.parse(r.content[0]!.text).results.map((x: MemoryHit) => x.content);
      };
      assert.deepEqual(await tool({}), ['I moved to Munich']);
      assert.deepEqual(await tool({ as_of: beforeMove }), ['I live in Berlin']);
    });

    test('extraction deleting a fact supersedes it: gone from search, there as_of before', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: agentBody })).body;
      const told = await streamChat(s, agent.id, { message: 'I work at Acme.', user_id: 'quitter' });
      const id = updatesOf(told)[0]!.memory_id;
      await sleep(20);
      const before = new Date().toISOString();
      await sleep(20);
      const quit = await streamChat(s, agent.id, { message: 'I no longer work at Acme.', user_id: 'quitter' });
      assert.deepEqual(
        updatesOf(quit).map((u) => [u.event, u.memory_id]),
        [['DELETE', id]],
      );
      const q = { query: 'Acme work', agent_id: agent.id, user_id: 'quitter' };
      assert.deepEqual(await search(q), []);
      assert.deepEqual(await search({ ...q, as_of: before }), ['I work at Acme']);
      const ended = (await s.api('GET', `${M}/${id}`)).body;
      assert.equal(typeof ended.valid_to, 'string');
      assert.deepEqual(await current(agent.id, 'quitter'), []);
    });

    test('relative dates resolve from when the message was said: an imported one, and a chat message', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: agentBody })).body;
      const said_at = '2024-05-08T21:30:00Z'; // a Wednesday
      const one = await s.api('POST', M, { body: { content: 'I flew to Rome yesterday', agent_id: agent.id, user_id: 'dates', said_at } });
      assert.equal(one.status, 201);
      assert.equal(one.body.content, 'I flew to Rome yesterday (2024-05-07)');
      assert.equal(new Date(one.body.valid_from).toISOString(), '2024-05-08T21:30:00.000Z', 'valid from when it was said');
      const batch = await s.api('POST', `${M}/batch`, {
        body: {
          agent_id: agent.id,
          user_id: 'dates',
          memories: [
            { content: 'I have a job interview next Friday', said_at },
            { content: '我明天去上海出差', said_at },
          ],
        },
      });
      assert.equal(batch.status, 201);
      const contents = await current(agent.id, 'dates');
      assert.ok(contents.includes('I have a job interview next Friday (2024-05-17)'), JSON.stringify(contents));
      assert.ok(contents.includes('我明天 (2024-05-09)去上海出差'), JSON.stringify(contents));
      // the absolute date is searchable however a question writes it
      assert.equal(
        (await search({ query: 'What did I do on May 7th, 2024?', agent_id: agent.id, user_id: 'dates', top_k: 1 }))[0],
        'I flew to Rome yesterday (2024-05-07)',
      );
      // before it was said it was not yet true
      assert.ok(!(await search({ query: 'Rome', agent_id: agent.id, user_id: 'dates', as_of: '2024-05-01T00:00:00Z' })).length);

      const chat = await streamChat(s, agent.id, { message: 'I have a dentist appointment tomorrow.', user_id: 'dates' });
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
      const today = new Date().toISOString().slice(0, 10);
      const content = updatesOf(chat)[0]?.content as string;
      // (a run that crosses midnight UTC resolves from the day the message was stored)
      assert.ok(content === `I have a dentist appointment tomorrow (${tomorrow})` || content === `I have a dentist appointment tomorrow (${today})`, content);
    });

    test('duplicates: exact and near-exact are reported and stored once, in the API and in extraction', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: agentBody })).body;
      const scope = { agent_id: agent.id, user_id: 'twice' };
      const first = await s.api('POST', M, { body: { content: 'I love green tea.', ...scope } });
      assert.equal(first.status, 201);
      assert.equal(first.body.duplicate_of, undefined);
      const exact = await s.api('POST', M, { body: { content: 'I love green tea.', ...scope } });
      assert.deepEqual([exact.status, exact.body.duplicate_of, exact.body.id], [200, first.body.id, first.body.id]);
      const near = await s.api('POST', M, { body: { content: '  i LOVE green-tea! ', ...scope } });
      assert.deepEqual([near.status, near.body.duplicate_of], [200, first.body.id]);
      // another user's same fact is theirs
      assert.equal((await s.api('POST', M, { body: { content: 'I love green tea.', agent_id: agent.id, user_id: 'someone-else' } })).status, 201);
      const batch = await s.api('POST', `${M}/batch`, {
        body: { ...scope, memories: [{ content: 'I LOVE green tea' }, { content: 'I play the cello' }, { content: 'I play the cello.' }] },
      });
      assert.equal(batch.status, 201);
      assert.equal(batch.body.count, 1, 'one new memory written');
      assert.deepEqual(batch.body.duplicates, [
        { index: 0, duplicate_of: first.body.id },
        { index: 2, duplicate_of: batch.body.ids[1] },
      ]);
      assert.deepEqual(await current(agent.id, 'twice'), ['I love green tea.', 'I play the cello']);

      // extraction: a model that ADDs what the user repeats (the emulator ADDs every user message)
      const extractor = await emulatorAgent(s, emu, { extraction: 'well_formed' }, { streaming: { emit_memory_updates: true } });
      const told = await streamChat(s, extractor.id, { message: 'I collect stamps', user_id: 'again' });
      const added = updatesOf(told).find((u) => u.event === 'ADD')!;
      assert.equal(added.content, 'I collect stamps');
      const again = await streamChat(s, extractor.id, { message: 'i collect stamps!', user_id: 'again' });
      const dup = updatesOf(again).find((u) => u.event === 'DUPLICATE');
      assert.deepEqual([dup?.memory_id, dup?.content], [added.memory_id, 'i collect stamps!'], JSON.stringify(updatesOf(again)));
      assert.ok(!updatesOf(again).some((u) => u.event === 'ADD'), 'no second row');
      assert.equal((await current(extractor.id, 'again')).length, 1);
    });

    test('one fact per memory: "I live in Berlin and I love sushi" is two memories, updated on their own', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: agentBody })).body;
      const told = await streamChat(s, agent.id, { message: 'I live in Berlin and I love sushi.', user_id: 'two' });
      assert.deepEqual(
        updatesOf(told)
          .map((u) => [u.event, u.content])
          .sort(),
        [
          ['ADD', 'I live in Berlin'],
          ['ADD', 'I love sushi'],
        ],
      );
      await streamChat(s, agent.id, { message: 'I moved to Lisbon.', user_id: 'two' });
      assert.deepEqual(await current(agent.id, 'two'), ['I love sushi', 'I moved to Lisbon']);
      const food = await search({ query: 'sushi', agent_id: agent.id, user_id: 'two' });
      assert.deepEqual(food, ['I love sushi'], 'recalled on its own');
    });

    test('an API delete and forgetting a user erase: nothing served again, not even as_of', async () => {
      const agent = (await s.api('POST', '/api/v1/agents', { body: agentBody })).body;
      const scope = { agent_id: agent.id, user_id: 'private' };
      const m = (await s.api('POST', M, { body: { content: 'My doctor is Dr. Oak', ...scope } })).body;
      await sleep(20);
      const then = new Date().toISOString();
      await sleep(20);
      // an API change supersedes too: the old content stays readable as_of
      assert.equal((await s.api('PATCH', `${M}/${m.id}`, { body: { content: 'My doctor is Dr. Elm' } })).status, 200);
      const q = { query: 'doctor', ...scope };
      assert.deepEqual(await search({ ...q, as_of: then }), ['My doctor is Dr. Oak']);
      const version = (await s.api('GET', `${M}/${m.id}/history`)).body.versions[0];
      assert.equal((await s.api('DELETE', `${M}/${m.id}`)).status, 204);
      assert.deepEqual(await search(q), []);
      assert.deepEqual(await search({ ...q, as_of: then }), [], 'the earlier version went with it');
      assert.equal((await s.api('GET', `${M}/${version.id}`)).status, 404);
      const h = (await s.api('GET', `${M}/${m.id}/history`)).body;
      assert.deepEqual(h.versions, []);
      assert.ok(JSON.stringify(h.data).indexOf('Dr.') === -1, 'no content in the events');

      // forgetting a user: current and superseded facts, extraction's included
      assert.equal((await s.api('POST', '/api/v1/users', { body: { id: 'leaving' } })).status, 201);
      await streamChat(s, agent.id, { message: 'I live in Oslo.', user_id: 'leaving' });
      await sleep(20);
      const before = new Date().toISOString();
      await sleep(20);
      await streamChat(s, agent.id, { message: 'I moved to Bergen.', user_id: 'leaving' });
      const lq = { query: 'where do I live Oslo Bergen', agent_id: agent.id, user_id: 'leaving' };
      assert.deepEqual(await search({ ...lq, as_of: before }), ['I live in Oslo']);
      assert.equal((await s.api('DELETE', '/api/v1/users/leaving')).status, 200);
      assert.deepEqual(await search(lq), []);
      assert.deepEqual(await search({ ...lq, as_of: before }), []);
      const rows = await s.app.db.query(`select 1 from memories where content like '%Oslo%' or content like '%Bergen%'`);
      assert.equal(rows.length, 0, 'no row left in the store');
    });
  });
}
