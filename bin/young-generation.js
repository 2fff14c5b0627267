// `agentmem serve` caps V8's young generation (issue 27). Plain JavaScript, loaded by
// bin/agentmem.js before tsx and the sources: compiling them grew new space to its 2 × 16 MiB
// maximum before serve ran, and that size also widens the old generation's allocation limit
// (V8 adds new space's capacity to it) — four paused clients then grew the server by 50–60 MiB.
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * `--max-semi-space-size` is read only when the process starts, so the cap is kept with V8's
 * growth factor instead, which it reads at every growth: after each GC, growth is off
 * (`--semi-space-growth-factor=1`) once new space has reached the cap, on again below it.
 * AGENTMEM_SEMI_SPACE_MB sets the cap (default 4 → new space ≤ 8 MiB; 0: V8's own policy);
 * a `--max-semi-space-size` given to node wins.
 */
export function boundYoungGeneration() {
  if (process.execArgv.some((a) => a.startsWith('--max-semi-space-size') || a.startsWith('--max_semi_space_size'))) return;
  const mb = Number(process.env.AGENTMEM_SEMI_SPACE_MB ?? 4);
  if (!Number.isInteger(mb) || mb <= 0) return;
  const cap = 2 * mb * 1024 * 1024;
  let growing = true;
  const check = () => {
    const grow = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size < cap;
    if (grow === growing) return;
    growing = grow;
    setFlagsFromString(`--semi-space-growth-factor=${grow ? 2 : 1}`);
  };
  check();
  new PerformanceObserver(check).observe({ entryTypes: ['gc'] });
}
