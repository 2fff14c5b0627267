import { Command } from 'commander';
import { startAgentmem } from '../app.ts';
import { configFromEnv } from '../config.ts';
import { onShutdownSignals } from '../server/shutdown.ts';
import { redactUrl } from '../store/postgres/index.ts';

export function serveCommand(): Command {
  return new Command('serve')
    .description('Serve agents over HTTP (PORT, HOST, DATABASE_URL, REDIS_URL, … from the environment)')
    .option('-p, --port <port>', 'port to listen on (default $PORT or 8080)')
    .option('--host <host>', 'address to bind (default $HOST or 127.0.0.1)')
    .action(async (opts: { port?: string; host?: string }) => {
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
      console.log(`agentmem listening on ${app.url} (store: ${store})`);
      if (app.generatedAdminKey) {
        console.log(`\nFirst start: created the platform admin API key. It is shown only this once:\n\n  ${app.generatedAdminKey}\n`);
      }
      // Live turns may finish for AGENTMEM_SHUTDOWN_GRACE_MS; a second signal exits at once.
      onShutdownSignals(async (signal) => {
        console.log(`agentmem: ${signal}, draining (up to ${config.shutdownGraceMs} ms)`);
        await app.shutdown();
      });
    });
}
