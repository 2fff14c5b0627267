import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatMessage } from '../llm/types.ts';
import { answer } from '../llm/simulated/index.ts';
import { flattenPrompt, promptSegments } from './prompt.ts';

const history: ChatMessage[] = [
  { role: 'user', content: 'I live in Lisbon.' },
  { role: 'assistant', content: 'Noted.' },
];
const recalled = [{ id: 'm1', content: 'The user plays\nthe cello', score: 0.9 }];

test('what changes every turn is last, in the user message; the stable segments end at the breakpoints', () => {
  const segments = promptSegments('Be brief.', history, recalled, 'What do I play?', { working: 'Name: Kim', summary: 'Kim moved.' });
  assert.deepEqual(
    segments.map((s) => [s.kind, s.stable, s.messages.length]),
    [
      ['system', true, 1],
      ['history', true, 2],
      ['turn', false, 1],
    ],
  );
  const { messages, breakpoints } = flattenPrompt(segments);
  assert.equal(messages[0]!.content, 'Be brief.\n\nSummary of the earlier part of this conversation:\n<summary>\nKim moved.\n</summary>');
  assert.deepEqual(breakpoints, [0, 2], 'after the system message and after the last history message');
  const last = messages.at(-1)!;
  assert.equal(last.role, 'user');
  assert.match(
    last.content!,
    /^Your working memory[^\n]*\n<working_memory>\nName: Kim\n<\/working_memory>\n\nThings you remember[^\n]*\n<memory>\n- The user plays the cello\n<\/memory>\n\nWhat do I play\?$/,
  );
});

test('without a system prompt, history or memories: no empty segments, no breakpoints for them', () => {
  const { messages, breakpoints } = flattenPrompt(promptSegments('', [], [], 'Hi'));
  assert.deepEqual(messages, [{ role: 'user', content: 'Hi' }]);
  assert.deepEqual(breakpoints, []);
});

test('the simulated model reads the blocks and answers the message itself', () => {
  const { messages } = flattenPrompt(promptSegments('Be brief.', history, recalled, 'What do I play?', { working: 'Name: Kim' }));
  assert.equal(answer(messages), 'You said: "What do I play?". I remember: The user plays the cello. My notes: Name: Kim. (turn 2 of this conversation)');
});
