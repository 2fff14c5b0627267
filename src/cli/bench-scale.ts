import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { formatScaleReport, runScaleBench } from '../bench/scale.ts';

const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
  return n;
};

/** `agentmem bench scale` (src/bench/scale.ts). */
export function benchScaleCommand(): Command {
  return new Command('scale')
    .description(
      'Memory per searched user: N users × M memories in the store, each searched once (cold) and again (warm); RSS, heap and the index after each step',
    )
    .option('--database <url>', 'memory:// (PGlite, default) or postgres://… (a throwaway database is created there and dropped)', 'memory://')
    .option('--users <n>', 'users in the organization', positive, 2_000)
    .option('--memories <n>', 'memories per user', positive, 20)
    .option('--steps <n>', 'measurements, evenly spaced in users searched', positive, 5)
    .option('--index-bytes <n>', 'the memory index budget (AGENTMEM_MEMORY_INDEX_BYTES; default 256 MiB)', positive)
    .option('--results <dir>', 'where the JSON goes', 'bench-results')
    .option('--json', 'print the JSON result only')
    .action(async (opts: { database: string; users: number; memories: number; steps: number; indexBytes?: number; results: string; json?: boolean }) => {
      let result;
      try {
        result = await runScaleBench({
          database: opts.database,
          users: opts.users,
          memoriesPerUser: opts.memories,
          steps: opts.steps,
          indexBytes: opts.indexBytes,
          onStep: opts.json ? undefined : (s) => console.error(`… ${s.touched_users} users searched: heap ${s.heap_mib} MiB, RSS ${s.rss_mib} MiB`),
        });
      } catch (err) {
        console.error(`agentmem bench scale: ${(err as Error).stack ?? err}`);
        process.exitCode = 1;
        return;
      }
      const json = JSON.stringify(result, null, 2);
      mkdirSync(resolve(opts.results), { recursive: true });
      writeFileSync(join(resolve(opts.results), `scale-${result.engine}-${result.date.replace(/[:.]/g, '-')}.json`), json);
      console.log(opts.json ? json : formatScaleReport(result));
      process.exit(process.exitCode ?? 0);
    });
}
