// The parts one upstream read makes, with consecutive text (or reasoning) deltas merged
// into one. A model that streams faster than the turn reads (or a server busy enough that
// several deltas wait in the socket) hands over many deltas per read: merged, they cost one
// pass through the turn (retry, fallback, the step loop, the encoders, one frame to the
// client) instead of one each. A read that carries one delta, the usual pace of a live
// answer, is passed on as it came. The text is the same; only its cut into frames differs.
import type { StreamPart } from './types.ts';

export interface DeltaBatch {
  push(part: StreamPart): void;
  /** the parts so far, merged, and a new empty batch */
  take(): StreamPart[];
}

export function deltaBatch(): DeltaBatch {
  let parts: StreamPart[] = [];
  return {
    push(part) {
      const last = parts[parts.length - 1];
      if (part.type === 'text-delta' && last?.type === 'text-delta') parts[parts.length - 1] = { type: 'text-delta', text: last.text + part.text };
      else if (part.type === 'reasoning-delta' && last?.type === 'reasoning-delta')
        parts[parts.length - 1] = { type: 'reasoning-delta', text: last.text + part.text };
      else parts.push(part);
    },
    take() {
      const out = parts;
      parts = [];
      return out;
    },
  };
}
