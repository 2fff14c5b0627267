// The prompt as the model reads it: token ids (o200k_base, gpt-4o's encoding; GLM's own
// tokenizer is not available offline) in the order a chat template lays it out: the
// leading system message(s), then the tool definitions, then the rest of the messages,
// then the assistant's cue. Each message is `<start> role <sep> content <end>` and each tool
// call `<start> name <sep> arguments <end>`: OpenAI's accounting (3 tokens per message,
// 3 per call, 3 to prime the reply). The prefix cache compares these ids, so two prompts
// share a cached prefix exactly as far as their serialized tokens agree.
// Texts are encoded once and remembered (an LRU bounded in bytes): a conversation resent
// turn after turn costs the encoding of its new messages only.
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { LRUCache } from 'lru-cache';
import { contentText } from './tokens.ts';

// Ids past o200k_base's vocabulary stand for the template's special tokens.
const START = 200_264;
const END = 200_265;
const SEP = 200_266;
const ASSISTANT = 200_267;

export interface PromptMessage {
  role?: unknown;
  content?: unknown;
  tool_calls?: Array<{ function?: { name?: unknown; arguments?: unknown } }>;
}

const encoded = new LRUCache<string, readonly number[]>({
  maxSize: 32 * 1024 * 1024,
  sizeCalculation: (ids, text) => Math.max(1, ids.length * 8 + text.length * 2),
});

/** The token ids of a text, from the memo when it was seen. */
export function encodeText(text: string): readonly number[] {
  if (!text) return [];
  let ids = encoded.get(text);
  if (!ids) {
    ids = encode(text);
    // a text too large for the memo is encoded again next time
    if (ids.length * 8 + text.length * 2 < 4 * 1024 * 1024) encoded.set(text, ids);
  }
  return ids;
}

/** The whole prompt's token ids; its length is the request's `prompt_tokens`. */
export function promptTokenIds(body: { messages: PromptMessage[]; tools?: unknown }): number[] {
  const out: number[] = [];
  const push = (ids: readonly number[]) => {
    for (const id of ids) out.push(id);
  };
  const message = (m: PromptMessage) => {
    out.push(START);
    push(encodeText(String(m?.role ?? '')));
    out.push(SEP);
    push(encodeText(contentText(m?.content)));
    out.push(END);
    for (const c of Array.isArray(m?.tool_calls) ? m.tool_calls : []) {
      out.push(START);
      push(encodeText(String(c?.function?.name ?? '')));
      out.push(SEP);
      push(encodeText(String(c?.function?.arguments ?? '')));
      out.push(END);
    }
  };
  const messages = body.messages;
  let i = 0;
  for (; i < messages.length && messages[i]?.role === 'system'; i++) message(messages[i]!);
  if (Array.isArray(body.tools) && body.tools.length) {
    push(encodeText(JSON.stringify(body.tools)));
  }
  for (; i < messages.length; i++) message(messages[i]!);
  out.push(START, ASSISTANT, SEP);
  return out;
}
