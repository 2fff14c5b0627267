// What a bench phase costs besides time: CPU of this process (every thread: the server's
// main thread, the PGlite worker, the emulator, the client's worker), CPU of the local
// PostgreSQL server's processes, and the main thread's event-loop delay while it ran.
// The phase's CPU is read once the process is quiet again, so the background work a turn
// leaves behind (extraction, the recall pool, checkpoints) is counted with the turn.
import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PhaseResources {
  /** user + system CPU of this process, ms, until quiet after the phase */
  cpuMs: number;
  /** the same of every process named postgres on this machine (undefined: none, or no /proc) */
  postgresCpuMs?: number;
  /** main-thread event-loop delay while the phase ran, ms: how late its 1 ms timer fired (LOOP_RESOLUTION_MS not included) */
  loopDelay: { p50: number; p99: number; max: number };
}

// Quiet: a window of QUIET_WINDOW_MS in which the process used at most QUIET_CPU_MS.
const QUIET_WINDOW_MS = 200;
const QUIET_CPU_MS = 4;
const QUIET_MAX_MS = 15_000;
// Linux reports /proc/<pid>/stat times in clock ticks; USER_HZ is 100 on every common kernel.
const TICK_MS = 10;

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * Node's histogram records each whole interval of its sampling timer, so an idle loop reads
 * ~1.08 ms at a 1 ms resolution; the delay is what exceeds the interval (an idle loop: ~0.08).
 */
export const LOOP_RESOLUTION_MS = 1;

/** Starts measuring; `stop()` ends the loop-delay window and waits for quiet before reading CPU.
 *  `postgres`: also the PostgreSQL server's CPU (a run on the embedded engine has none of its own). */
export function measurePhase(postgres: boolean): { stop(): Promise<PhaseResources> } {
  const cpu0 = cpuNow();
  const pg0 = postgres ? postgresCpuMs() : undefined;
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  return {
    async stop() {
      loop.disable();
      const ms = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
      const loopDelay = { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) };
      const deadline = performance.now() + QUIET_MAX_MS;
      for (let before = cpuNow(); performance.now() < deadline;) {
        await sleep(QUIET_WINDOW_MS);
        const now = cpuNow();
        if (now - before <= QUIET_CPU_MS) break;
        before = now;
      }
      const pg1 = postgres ? postgresCpuMs() : undefined;
      return { cpuMs: cpuNow() - cpu0, postgresCpuMs: pg0 !== undefined && pg1 !== undefined ? pg1 - pg0 : undefined, loopDelay };
    },
  };
}

/** utime + stime of every `postgres` process, ms (undefined without /proc or without one). */
export function postgresCpuMs(): number | undefined {
  let total = 0;
  let seen = false;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state … : comm may hold spaces, so split after the last ')'
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    if (stat.slice(open + 1, close) !== 'postgres') continue;
    const fields = stat.slice(close + 2).split(' ');
    total += (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime (fields 14, 15 of stat)
    seen = true;
  }
  return seen ? total : undefined;
}
