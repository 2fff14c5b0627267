// Backpressure, for every streaming surface: when more than `bufferBytes` wait in a
// client's socket, the run stops pulling the upstream stream (so undici stops reading
// the model's socket, and TCP pushes back on the provider) until the client has read
// them. A client that reads nothing for `stallMs` ends its turn with `client_stalled`
// (stored incomplete; its connection is closed rather than left holding the buffer).
import { TurnStop } from '../../agent/stop.ts';
import type { AppConfig } from '../../config.ts';

export interface FlowLimits {
  /** bytes queued for the client beyond which the upstream waits (AGENTMEM_STREAM_BUFFER_BYTES) */
  bufferBytes: number;
  /** how long a full socket may stay full (AGENTMEM_STREAM_STALL_MS) */
  stallMs: number;
}

export const flowLimits = (c: Pick<AppConfig, 'streamBufferBytes' | 'streamStallMs'>): FlowLimits => ({
  bufferBytes: c.streamBufferBytes,
  stallMs: c.streamStallMs,
});

export interface Flow {
  /** undefined while the client keeps up (no await on the hot path); else settles once it has read, or rejects with `client_stalled` */
  ready(): Promise<void> | undefined;
  /** a stall ended the turn: close the connection instead of ending it */
  readonly stalled: boolean;
}

export interface FlowTarget {
  /** bytes written and not yet taken by the kernel */
  pending(): number;
  /** the client is gone (its turn is aborted anyway) */
  closed(): boolean;
  /** calls `fn` on the writable's 'drain'; returns the detach (without one, polling alone notices) */
  onDrain?(fn: () => void): () => void;
}

/** How often a paused stream looks at its socket (besides 'drain'). */
const POLL_MS = 25;

export function createFlow(target: FlowTarget, limits: FlowLimits): Flow {
  let waiting: Promise<void> | undefined;
  let stalled = false;
  const stallError = () =>
    new TurnStop(
      'client_stalled',
      `The client read nothing for ${limits.stallMs} ms while ${limits.bufferBytes} bytes waited for it; the answer was cut off.`,
      true,
    );
  return {
    get stalled() {
      return stalled;
    },
    ready() {
      if (waiting) return waiting;
      if (target.pending() <= limits.bufferBytes || target.closed()) return undefined;
      waiting = new Promise<void>((resolve, reject) => {
        const check = () => {
          // Resume at half the limit: one wait per half-buffer read, not one per frame.
          if (target.closed() || target.pending() <= limits.bufferBytes / 2) finish(resolve);
        };
        const poll = setInterval(check, POLL_MS);
        const stall = setTimeout(() => {
          stalled = true;
          finish(() => reject(stallError()));
        }, limits.stallMs);
        const detach = target.onDrain?.(check);
        const finish = (settle: () => void) => {
          clearInterval(poll);
          clearTimeout(stall);
          detach?.();
          waiting = undefined;
          settle();
        };
      });
      return waiting;
    },
  };
}
