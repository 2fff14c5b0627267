// The AI SDK UI message stream protocol (v1) as a transform of the agent event
// union: what `useChat` reads. Each part is one SSE `data:` frame; stream-turn.ts ends
// the stream with `data: [DONE]`.
//
//   start            → start {messageId, messageMetadata: {session_id, …}}, start-step
//   reasoning        → reasoning-start (once per open reasoning block), reasoning-delta;
//                      closed (reasoning-end) by the text, a tool call or the end
//   content          → text-start (once per open text block), text-delta; a new step_id
//                      → finish-step, start-step first
//   tool_call        → tool-input-available (dynamic: the client has no schema for our tools)
//   tool_result      → tool-output-available | tool-output-error
//   metadata         → data-metadata {timings to first byte, recalled memories, model, provider}
//   memory_update    → data-memory (id = memory id, so a later change replaces it)
//   done             → data-timings, finish-step, finish {finishReason, messageMetadata: {usage, …}}
//   error            → error {errorText}, finish-step, finish {finishReason: 'error'}
import type { AgentEvent } from '../../agent/events.ts';
import type { FinishReason } from '../../llm/types.ts';

export const uiStreamHeaders = { 'x-vercel-ai-ui-message-stream': 'v1' } as const;

type UIFinishReason = 'stop' | 'length' | 'content-filter' | 'tool-calls' | 'error' | 'other';

/** The parts we send (a subset of the AI SDK's UIMessageChunk; field names are the protocol's). */
export type UIChunk =
  | { type: 'start'; messageId: string; messageMetadata?: Record<string, unknown> }
  | { type: 'start-step' | 'finish-step' }
  | { type: 'text-start' | 'text-end'; id: string }
  | { type: 'text-delta'; id: string; delta: string }
  | { type: 'reasoning-start' | 'reasoning-end'; id: string }
  | { type: 'reasoning-delta'; id: string; delta: string }
  | { type: 'tool-input-available'; toolCallId: string; toolName: string; input: unknown; dynamic: true }
  | { type: 'tool-output-available'; toolCallId: string; output: unknown; dynamic: true }
  | { type: 'tool-output-error'; toolCallId: string; errorText: string; dynamic: true }
  | { type: `data-${string}`; id?: string; data: unknown }
  | { type: 'error'; errorText: string }
  | { type: 'finish'; finishReason: UIFinishReason; messageMetadata?: Record<string, unknown> };

export function toUIFinishReason(r: FinishReason | null): UIFinishReason {
  switch (r) {
    case 'length':
    case 'error':
    case 'other':
      return r;
    case 'tool_calls':
      return 'tool-calls';
    case 'content_filter':
      return 'content-filter';
    default:
      return 'stop';
  }
}

/** Tool arguments are JSON text from the model; invalid JSON is passed on as the text. */
function parseInput(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A stateful transform, one per response: each event → the parts to send, in order. */
export function uiStreamParts(): (event: AgentEvent) => UIChunk[] {
  let textId: string | undefined; // the open text block, if any
  let texts = 0;
  let reasoningId: string | undefined; // the open reasoning block, if any
  let reasonings = 0;
  let messageId = '';
  let step = 0;
  const endReasoning = (): UIChunk[] => {
    if (!reasoningId) return [];
    const id = reasoningId;
    reasoningId = undefined;
    return [{ type: 'reasoning-end', id }];
  };
  const endText = (): UIChunk[] => {
    const out = endReasoning();
    if (!textId) return out;
    const id = textId;
    textId = undefined;
    return [...out, { type: 'text-end', id }];
  };

  /** A new step_id (the model's next call after tools) closes the step and opens the next one. */
  const stepTo = (stepId: number): UIChunk[] => {
    if (stepId === step) return [];
    step = stepId;
    return [...endText(), { type: 'finish-step' }, { type: 'start-step' }];
  };

  return (e) => {
    switch (e.chunk_type) {
      case 'start':
        messageId = e.message_id;
        return [
          { type: 'start', messageId: e.message_id, messageMetadata: { session_id: e.session_id, agent_id: e.agent_id, user_message_id: e.user_message_id } },
          { type: 'start-step' },
        ];
      case 'reasoning': {
        const out = stepTo(e.step_id);
        if (textId) out.push(...endText());
        if (!reasoningId) {
          reasoningId = `${messageId}:reasoning:${reasonings++}`;
          out.push({ type: 'reasoning-start', id: reasoningId });
        }
        out.push({ type: 'reasoning-delta', id: reasoningId, delta: e.content });
        return out;
      }
      case 'content': {
        const out = [...stepTo(e.step_id), ...endReasoning()];
        if (!textId) {
          textId = `${messageId}:text:${texts++}`;
          out.push({ type: 'text-start', id: textId });
        }
        out.push({ type: 'text-delta', id: textId, delta: e.content });
        return out;
      }
      case 'tool_call':
        return [
          ...stepTo(e.step_id),
          ...endText(),
          { type: 'tool-input-available', toolCallId: e.call_id, toolName: e.name, input: parseInput(e.arguments), dynamic: true },
        ];
      case 'tool_result':
        return [
          e.error !== undefined
            ? { type: 'tool-output-error', toolCallId: e.call_id, errorText: e.error, dynamic: true }
            : { type: 'tool-output-available', toolCallId: e.call_id, output: e.output ?? null, dynamic: true },
        ];
      case 'metadata':
        return [{ type: 'data-metadata', data: { timings: e.timings, recalled: e.recalled, model: e.model, provider: e.provider } }];
      case 'memory_update':
        return [{ type: 'data-memory', id: e.memory_id, data: { event: e.event, memory_id: e.memory_id, content: e.content } }];
      case 'done':
        return [
          ...endText(),
          { type: 'data-timings', data: e.timings },
          { type: 'finish-step' },
          { type: 'finish', finishReason: toUIFinishReason(e.finish_reason), messageMetadata: { session_id: e.session_id, model: e.model, usage: e.usage } },
        ];
      case 'error':
        return [
          ...endText(),
          { type: 'error', errorText: e.message },
          { type: 'data-error', data: { code: e.code, message: e.message, retryable: e.retryable } },
          { type: 'finish-step' },
          { type: 'finish', finishReason: 'error' },
        ];
    }
  };
}
