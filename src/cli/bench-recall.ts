import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Command } from 'commander';
import { CONFIGS, formatRecallReport, runRecallBench } from '../bench/recall/run.ts';

/** `agentmem bench recall --dataset <dir>` (src/bench/recall/run.ts). */
export function benchRecallCommand(): Command {
  return new Command('recall')
    .description('Retrieval quality through the API on a labeled dataset (recall@5, recall@10, MRR, search latency) beside plain BM25 over the same data')
    .requiredOption('--dataset <dir>', 'a dataset directory (meta.json, memories.jsonl, questions.jsonl; see docs/memory.md)')
    .option('--database <url>', 'memory:// (PGlite, default) or postgres://… (a throwaway database is created there and dropped)', 'memory://')
    .option('--configs <list>', `comma-separated, of: ${CONFIGS.map((c) => c.name).join(', ')}`, (v) => v.split(',').map((s) => s.trim()))
    .option('--users <regexp>', 'only the users (scopes) matching: a part of the set, e.g. a development half')
    .option('--embedder-url <url>', 'also fuse a real openai-compatible embedder at this base URL (…/v1)')
    .option('--embedder-model <name>', 'its model', 'text-embedding-3-small')
    .option('--embedder-dimensions <n>', 'its vector size', (v) => Number(v), 1536)
    .option('--vector-weights <list>', 'fusion weights to measure it at, one configuration each', (v) => v.split(',').map(Number), [1])
    .option('--neural-weights <list>', 'also the local neural embedder fused at these weights, one configuration each', (v) => v.split(',').map(Number))
    .option('--results <dir>', 'where the JSON goes', 'bench-results')
    .option('--json', 'print the JSON result only')
    .action(
      async (opts: {
        dataset: string;
        database: string;
        configs?: string[];
        users?: string;
        results: string;
        json?: boolean;
        embedderUrl?: string;
        embedderModel: string;
        embedderDimensions: number;
        vectorWeights: number[];
        neuralWeights?: number[];
      }) => {
        let result;
        try {
          const embedder = opts.embedderUrl
            ? { url: opts.embedderUrl, model: opts.embedderModel, dimensions: opts.embedderDimensions, weights: opts.vectorWeights }
            : undefined;
          result = await runRecallBench({
            dataset: resolve(opts.dataset),
            database: opts.database,
            configs: opts.configs,
            users: opts.users,
            embedder,
            neuralWeights: opts.neuralWeights,
            progress: opts.json ? undefined : (line) => process.stderr.write(line + '\n'),
          });
        } catch (err) {
          console.error(`agentmem bench recall: ${(err as Error).stack ?? err}`);
          process.exit(1);
        }
        const json = JSON.stringify(result, null, 2);
        mkdirSync(resolve(opts.results), { recursive: true });
        const file = join(resolve(opts.results), `recall-${basename(resolve(opts.dataset))}-${result.engine}-${result.date.replace(/[:.]/g, '-')}.json`);
        writeFileSync(file, json + '\n');
        process.stdout.write(opts.json ? json + '\n' : formatRecallReport(result) + `\n\nwrote ${file}\n`);
        process.exit(0);
      },
    );
}
