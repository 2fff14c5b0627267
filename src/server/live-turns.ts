// The turns (and resumed streams) this instance is serving right now, so a shutdown can
// wait for them, and end the ones still running when its grace period is over.
import { linkAbort } from '../abort.ts';
import type { TurnStop } from '../agent/stop.ts';

/** A turn produces an answer; a follow replays another instance's stream (it has nothing to finish). */
export type LiveKind = 'turn' | 'follow';

export interface LiveTurns {
  /** true once shutdown began: /ready fails, new turns are refused */
  readonly draining: boolean;
  /** turns running now (follows not counted) */
  readonly turns: number;
  /** a signal that fires with `signal` (if any), or with the server's stop; release() when the turn ends */
  track(signal: AbortSignal | undefined, kind?: LiveKind): { signal: AbortSignal; release(): void };
  drain(): void;
  /** true when every turn ended within `ms`, false when some are still running */
  settled(ms: number): Promise<boolean>;
  /** aborts everything still live with `stop` as the reason */
  stopAll(stop: TurnStop): void;
}

export function createLiveTurns(): LiveTurns {
  const live = new Map<ReturnType<typeof linkAbort>, LiveKind>();
  let turns = 0;
  let draining = false;
  let waiters: Array<() => void> = [];
  const idle = () => {
    for (const w of waiters) w();
    waiters = [];
  };
  return {
    get draining() {
      return draining;
    },
    get turns() {
      return turns;
    },
    track(signal, kind = 'turn') {
      const link = linkAbort(signal);
      live.set(link, kind);
      if (kind === 'turn') turns++;
      let released = false;
      return {
        signal: link.signal,
        release() {
          if (released) return;
          released = true;
          link.release();
          live.delete(link);
          if (kind === 'turn' && --turns === 0) idle();
        },
      };
    },
    drain() {
      draining = true;
    },
    settled(ms) {
      if (turns === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(turns === 0), ms);
        waiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
    stopAll(stop) {
      for (const link of live.keys()) link.abort(stop);
    },
  };
}
