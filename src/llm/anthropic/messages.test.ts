import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatMessage } from '../types.ts';
import { toPrompt } from './messages.ts';

const EPH = { type: 'ephemeral' };
const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'q1' },
  { role: 'assistant', content: 'a1' },
  { role: 'user', content: 'q2' },
];
/** A content block as these checks read it (text only on text blocks). */
type Block = { type: string; text?: string; cache_control?: unknown };
/** Which blocks carry cache_control, as "where:text". */
const marks = (p: ReturnType<typeof toPrompt>) => [
  ...p.tools.filter((t) => t.cache_control).map((t) => `tool:${t.name}`),
  ...p.system.filter((b) => b.cache_control).map((b) => `system:${b.text}`),
  ...p.messages.flatMap((m) => m.content.filter((b: Block) => b.cache_control).map((b: Block) => `${m.role}:${b.text ?? b.type}`)),
];

test('system apart, turns as content blocks; breakpoints at the given stable ends', () => {
  const p = toPrompt({ messages: conversation, cache_breakpoints: [0, 2] });
  assert.deepEqual(p.system, [{ type: 'text', text: 'You are terse.', cache_control: EPH }]);
  assert.deepEqual(
    p.messages.map((m) => m.role),
    ['user', 'assistant', 'user'],
  );
  assert.deepEqual(marks(p), ['system:You are terse.', 'assistant:a1']);
});

test('without given ends: the last system block and the message before the turn (per-turn system text counts as the turn)', () => {
  const withMemories: ChatMessage[] = [...conversation.slice(0, 3), { role: 'system', content: '<memory>likes tea</memory>' }, { role: 'user', content: 'q2' }];
  const p = toPrompt({ messages: withMemories });
  assert.deepEqual(marks(p), ['system:You are terse.', 'assistant:a1']);
  assert.deepEqual(p.messages.at(-1), {
    role: 'user',
    content: [
      { type: 'text', text: '<memory>likes tea</memory>' },
      { type: 'text', text: 'q2' },
    ],
  });
  // a first turn: nothing before it but the system prompt
  assert.deepEqual(marks(toPrompt({ messages: [conversation[0]!, conversation[1]!] })), ['system:You are terse.']);
});

test('tool calls as tool_use, results merged into one user turn of tool_result blocks; no system: the tools carry the stable mark', () => {
  const p = toPrompt({
    messages: [
      { role: 'user', content: 'weather?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'toolu_1', name: 'get', arguments: '{"city":"Paris"}' },
          { id: 'toolu_2', name: 'get', arguments: 'not json' },
        ],
      },
      { role: 'tool', content: 'sunny', tool_call_id: 'toolu_1' },
      { role: 'tool', content: '', tool_call_id: 'toolu_2' },
    ],
    tools: [{ name: 'get', description: 'weather', parameters: { type: 'object' } }],
    cache_breakpoints: [],
  });
  assert.deepEqual(p.tools, [{ name: 'get', description: 'weather', input_schema: { type: 'object' }, cache_control: EPH }]);
  assert.deepEqual(p.messages.slice(1), [
    {
      role: 'assistant',
      content: [
        { type: 'tool_use', id: 'toolu_1', name: 'get', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'toolu_2', name: 'get', input: {} },
      ],
    },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' },
        { type: 'tool_result', tool_use_id: 'toolu_2' },
      ],
    },
  ]);
  assert.equal(p.missingThinking, true, 'mid tool loop with no thinking blocks known');
});

test("a tool call's thinking blocks go back first; empty messages are left out; never more than 4 breakpoints", () => {
  const thinking = [{ type: 'thinking' as const, thinking: 'hmm', signature: 'sig' }];
  const p = toPrompt(
    {
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: '', tool_calls: [{ id: 'toolu_9', name: 't', arguments: '{}' }] },
        { role: 'tool', content: 'ok', tool_call_id: 'toolu_9' },
      ],
    },
    (id) => (id === 'toolu_9' ? thinking : undefined),
  );
  assert.deepEqual(
    p.messages[1]!.content.map((b) => b.type),
    ['thinking', 'tool_use'],
  );
  assert.equal(p.missingThinking, false);

  const many: ChatMessage[] = Array.from({ length: 8 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `m${i}` }));
  assert.equal(marks(toPrompt({ messages: many, cache_breakpoints: [0, 1, 2, 3, 4, 5] })).length, 4);
  assert.deepEqual(toPrompt({ messages: [{ role: 'user', content: '' }, ...many] }).messages[0]!.content, [{ type: 'text', text: 'm0' }]);
});
