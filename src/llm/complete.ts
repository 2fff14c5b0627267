// A whole answer from a stream: every provider completes by streaming, so there is
// one code path to test, and errors keep their meaning.
import { fromInfo } from './errors.ts';
import type { Completion, StreamPart } from './types.ts';

export async function collect(parts: AsyncIterable<StreamPart>): Promise<Completion> {
  const out: Completion = { text: '', reasoning: '', tool_calls: [], finish_reason: 'stop', raw_finish_reason: null, usage: null };
  for await (const part of parts) {
    if (part.type === 'text-delta') out.text += part.text;
    else if (part.type === 'reasoning-delta') out.reasoning += part.text;
    else if (part.type === 'tool-call') out.tool_calls.push(part.call);
    else if (part.type === 'finish') Object.assign(out, { finish_reason: part.finish_reason, raw_finish_reason: part.raw_finish_reason, usage: part.usage });
    else throw fromInfo(part.error);
  }
  return out;
}
