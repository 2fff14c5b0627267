import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as keys from './keys.ts';

// ids that hold the separator, the escape mark, both, the "any" and "none" spellings, and ordinary ones
const ODD = ['a\u0001b', '\u0002', '\u0002\u0003', '\u0001', 'x\u0002\u0001y\u0002', '*', '**', '', '-', 'u1', '\n|,', '用户'];
const UUID = '6f1c1e9a-2b7e-4c7e-9a3a-0f5b8f0e9d11';

test('parts: null, any and every id round-trip; an ordinary id is kept as it is', () => {
  for (const v of [null, undefined, ...ODD, UUID]) assert.equal(keys.readPart(keys.part(v)), v);
  assert.equal(keys.part(UUID), UUID);
  assert.equal(keys.part('u1'), 'u1');
});

test('scope keys round-trip (any agent, no user, odd ids); ordinary ones read as before', () => {
  for (const org of [UUID, 'o\u0001', '']) {
    for (const agentId of [UUID, null, undefined, ...ODD]) {
      for (const userId of [null, undefined, ...ODD]) {
        const key = keys.scopeKey(org, agentId, userId);
        assert.deepEqual(keys.readScopeKey(key), { orgId: org, agentId, userId });
        if (userId !== undefined) assert.equal(keys.userOfScopeKey(key), keys.userKey(org, userId));
      }
    }
  }
  // the bus format of the previous release, for UUIDs
  assert.equal(keys.scopeKey('o', 'a', 'u'), 'o\u0001a\u0001u');
  assert.equal(keys.scopeKey('o', undefined, null), 'o\u0001*\u0001');
  assert.throws(() => keys.readScopeKey('o\u0001a'));
});

test('user, leaf, fact and vector keys round-trip', () => {
  for (const a of [UUID, ...ODD]) {
    for (const b of [null, ...ODD]) {
      assert.deepEqual(keys.readUserKey(keys.userKey(a, b)), { orgId: a, userId: b });
      assert.deepEqual(keys.readLeafKey(keys.leafKey(b, b)), { agentId: b, userId: b });
      assert.equal(keys.agentOfLeafKey(keys.leafKey(b, a)), b);
      assert.deepEqual(keys.readFactKey(keys.factKey(b, b, a)), { agentId: b, userId: b, fact: a });
      if (b !== null) assert.deepEqual(keys.readVectorKey(keys.vectorKey(b, a + '\n' + a)), { embedderId: b, text: a + '\n' + a });
    }
  }
  // two users whose ids differ only where a naive join would hide it
  assert.notEqual(keys.leafKey('a\u0001', 'b'), keys.leafKey('a', '\u0001b'));
  assert.notEqual(keys.factKey(null, 'u', 'x'), keys.factKey('null', 'u', 'x'));
});

test('search scope keys round-trip with agent lists and as_of', () => {
  const asOf = new Date('2024-05-07T10:00:00Z');
  for (const agentIds of [undefined, [], [UUID], ODD.filter(Boolean), [''], ['a,b', 'c']]) {
    for (const at of [undefined, asOf]) {
      const s = { orgId: UUID, agentId: undefined, userId: 'u\u0001', ...(agentIds ? { agentIds } : {}), ...(at ? { asOf: at } : {}) };
      assert.deepEqual(keys.readSearchScopeKey(keys.searchScopeKey(s)), s);
    }
  }
  assert.notEqual(
    keys.searchScopeKey({ orgId: 'o', agentId: undefined, userId: undefined, agentIds: ['a,b'] }),
    keys.searchScopeKey({ orgId: 'o', agentId: undefined, userId: undefined, agentIds: ['a', 'b'] }),
  );
});

test('working memory keys round-trip, any agent included', () => {
  for (const agentId of [UUID, undefined, ...ODD]) {
    for (const scope of ['user', 'session'] as const) {
      for (const owner of ODD) {
        assert.deepEqual(keys.readWorkingKey(keys.workingKey('o\n', agentId, scope, owner)), { orgId: 'o\n', agentId, scope, owner });
      }
    }
  }
  assert.throws(() => keys.readWorkingKey('o\u0001a\u0001team\u0001x'));
});

test('secret paths: the stored text is unchanged and reads back, dotted header names included', () => {
  const paths: keys.SecretPath[] = [
    { kind: 'llm' },
    { kind: 'fallback' },
    { kind: 'embedder' },
    { kind: 'tool', index: 0, field: 'headers', name: 'x-key' },
    { kind: 'tool', index: 12, field: 'env', name: 'TOKEN' },
    { kind: 'tool', index: 3, field: 'headers', name: 'x.api.key' },
    { kind: 'tool', index: 1, field: 'headers', name: 'env.X' },
  ];
  for (const p of paths) assert.deepEqual(keys.readSecretPath(keys.secretPath(p)), p);
  assert.equal(keys.secretPath({ kind: 'tool', index: 0, field: 'headers', name: 'x-key' }), 'tools.0.headers.x-key');
  assert.equal(keys.secretPath({ kind: 'embedder' }), 'memory.embedder.api_key');
  for (const bad of ['tools.x.headers.a', 'tools.0.headers.', 'tools.0.other.a', 'tools.0', 'llm.other', '']) assert.equal(keys.readSecretPath(bad), undefined);
  for (const name of ODD.filter(Boolean)) {
    for (const field of ['headers', 'env'] as const) {
      assert.deepEqual(keys.readToolSecretKey(keys.toolSecretKey(name, field, name)), { toolName: name, field, name });
    }
  }
});

test('MCP server keys belong to their agent only, whatever the ids hold', () => {
  for (const agent of [...ODD.filter(Boolean), UUID]) {
    const key = keys.mcpServerKey(agent, 'search');
    assert.ok(keys.isAgentsServerKey(key, agent));
    assert.ok(!keys.isAgentsServerKey(key, agent + 'x'));
    assert.ok(!keys.isAgentsServerKey(keys.mcpServerKey(agent + 'x', 'search'), agent));
  }
});
