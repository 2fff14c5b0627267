// The extraction request sent to the agent's own model after an exchange, mem0-style:
// extract the user's facts from the exchange and reconcile them with the memories
// the user already has, answering one decision per fact (ADD, UPDATE, DELETE, NONE).
import type { ChatMessage } from '../llm/types.ts';
import { jsonObjectOf } from '../llm/answer-json.ts';

import { EXTRACTION_MARKER } from '../llm/task-markers.ts';
import type { MemoryDecision } from './memory-decision.ts';

export interface ExtractionInput {
  existing: Array<{ id: string; text: string }>;
  /** earlier messages of the session, to understand the conversation by (facts come from `conversation`) */
  context?: Array<{ role: 'user' | 'assistant'; content: string }>;
  /** `at`: when each message was said (ISO), for the model to turn relative dates into absolute ones */
  conversation: Array<{ role: 'user' | 'assistant'; content: string; at?: string }>;
}

export type { MemoryDecision };

const instructions = `${EXTRACTION_MARKER}
You maintain long-term memory about a user. "context" (if any) holds earlier messages, to
understand the conversation by: "no, I moved" refers to them. From the conversation, extract durable facts
about the user (identity, preferences, plans, relationships, circumstances); ignore small talk
and anything the assistant said that the user did not confirm.
One fact per memory: "I live in Berlin and I love sushi" is two memories, "I live in Berlin"
and "I love sushi", so each can be updated or deleted on its own. Keep the user's words and
first person. A message's "at" is when it was said: write a relative date as the absolute
date it means, after the words ("I fly to Rome tomorrow (2024-05-09)", "昨天 (2024-05-07)").
Compare each fact with the existing memories and decide:
- ADD: a new fact (give "text").
- UPDATE: a fact that changes or refines an existing memory (give its "id" and the new "text");
  the old one is kept as history ("I moved to Munich" updates "I live in Berlin").
- DELETE: an existing memory the user contradicted or asked to forget (give its "id").
- NONE: already known (even in other words), nothing to do.
Answer with JSON only: {"memory": [{"event": "ADD"|"UPDATE"|"DELETE"|"NONE", "id"?: string, "text"?: string}]}`;

export function extractionMessages(input: ExtractionInput): ChatMessage[] {
  return [
    { role: 'system', content: instructions },
    { role: 'user', content: JSON.stringify(input) },
  ];
}

/** Reads the model's answer leniently (code fences, prose around the JSON); unknown ids are dropped. */
export function parseDecisions(answer: string, existingIds: Set<string>): MemoryDecision[] {
  // Thinking models wrap the JSON in reasoning, fences or prose (answer-json.ts).
  const list = jsonObjectOf(answer)?.memory;
  if (!Array.isArray(list)) return [];
  const out: MemoryDecision[] = [];
  for (const d of list) {
    if (!d || typeof d !== 'object') continue;
    const { event, id, text } = d as Record<string, unknown>;
    const t = typeof text === 'string' ? text.trim().slice(0, 2_000) : undefined;
    if (event === 'ADD' && t) out.push({ event, text: t });
    else if (event === 'UPDATE' && typeof id === 'string' && existingIds.has(id) && t) out.push({ event, id, text: t });
    else if (event === 'DELETE' && typeof id === 'string' && existingIds.has(id)) out.push({ event, id });
  }
  return out;
}
