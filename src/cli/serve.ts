import { setFlagsFromString } from 'node:v8';
import { Command } from 'commander';
import { isClusterWorker, reportReady, runPrimary, workersFrom } from './serve-cluster.ts';
import { startAgentmem } from '../app.ts';
import { configFromEnv } from '../config.ts';
import { onShutdownSignals } from '../server/shutdown.ts';
import { redactUrl } from '../store/postgres/index.ts';

export function serveCommand(): Command {
  return new Command('serve')
    .description('Serve agents over HTTP (PORT, HOST, DATABASE_URL, REDIS_URL, … from the environment)')
    .option('-p, --port <port>', 'port to listen on (default $PORT or 8080)')
    .option('--host <host>', 'address to bind (default $HOST or 127.0.0.1)')
    .option('--workers <n>', 'server processes on this port (default $AGENTMEM_WORKERS or 1; above 1 needs PostgreSQL and Redis)')
    .action(async (opts: { port?: string; host?: string; workers?: string }) => {
      if (!isClusterWorker()) {
        let workers;
        try {
          workers = workersFrom(opts.workers, process.env);
        } catch (err) {
          console.error(`agentmem: ${(err as Error).message}`);
          process.exit(1);
        }
        if (workers > 1) {
          await runPrimary(workers);
          process.exit(0);
        }
      }
      boundHeapGrowth();
      let config;
      let app;
      try {
        // A bad variable (AGENTMEM_EGRESS, a number) is a one-line startup error, not a stack.
        config = configFromEnv();
        if (opts.port) config.port = Number(opts.port);
        if (opts.host) config.host = opts.host;
        app = await startAgentmem(config);
      } catch (err) {
        console.error(`agentmem: ${(err as Error).message}`);
        process.exit(1);
      }
      const store = config.databaseUrl ? redactUrl(config.databaseUrl) : `PGlite in ${config.dataDir}`;
      if (isClusterWorker()) reportReady({ url: app.url, store, generatedAdminKey: app.generatedAdminKey });
      else console.log(`agentmem listening on ${app.url} (store: ${store})`);
      if (app.generatedAdminKey && !isClusterWorker()) {
        console.log(`\nFirst start: created the platform admin API key. It is shown only this once:\n\n  ${app.generatedAdminKey}\n`);
      }
      // Live turns may finish for AGENTMEM_SHUTDOWN_GRACE_MS; a second signal exits at once.
      onShutdownSignals(async (signal) => {
        console.log(`agentmem: ${signal}, draining (up to ${config.shutdownGraceMs} ms)`);
        await app.shutdown();
      });
    });
}

/**
 * V8 lets the old generation grow to 2-4x what its last major GC kept before it marks again,
 * and a quiet process never collects: the garbage of a streaming burst (frames and socket
 * chunks promoted on busy cores) then stays in RSS while the streams wait — 100 MiB and more
 * above six paused streams' ~17 MiB of live data (issue 18). A fixed growth of 25% over the
 * live heap bounds it, at the cost of more (concurrent) major GCs. AGENTMEM_HEAP_GROWING_PERCENT
 * sets another (0: V8's own policy); a `--heap-growing-percent` given to node wins.
 */
function boundHeapGrowth(): void {
  if (process.execArgv.some((a) => a.startsWith('--heap-growing-percent') || a.startsWith('--heap_growing_percent'))) return;
  const percent = Number(process.env.AGENTMEM_HEAP_GROWING_PERCENT ?? 25);
  if (Number.isInteger(percent) && percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
