// `agentmem export` / `agentmem import`: one organization as JSON Lines, straight from and
// into the store named by DATABASE_URL (or the embedded one in AGENTMEM_DATA_DIR).
// `agentmem backup` / `agentmem restore`: the whole embedded store, with PGlite's own dump.
// All four open the store themselves: for the embedded store, stop the server first.
import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { finished } from 'node:stream/promises';
import { Command } from 'commander';
import { configFromEnv } from '../config.ts';
import { openStore } from '../store/open.ts';
import type { Db } from '../store/db.ts';
import { createApiKey } from '../store/repos/api-keys.ts';
import { exportOrg, importOrg } from '../store/org-dump.ts';
import { emitEvents } from '../webhooks/outbox.ts';

const fail = (err: unknown) => {
  console.error(`agentmem: ${(err as Error).message}`);
  process.exit(1);
};
const summary = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([t, n]) => `${t} ${n}`)
    .join(', ') || 'nothing';

/** Opens the configured store, runs `work` on it, closes it; any failure ends the process with its message. */
async function withStore(work: (db: Db) => Promise<void>): Promise<void> {
  const config = configFromEnv();
  const db = await openStore(config.databaseUrl, config.dataDir).catch(fail);
  if (!db) return;
  try {
    await work(db);
  } catch (err) {
    fail(err);
  } finally {
    await db.close();
  }
}

export function exportCommand(): Command {
  return new Command('export')
    .description("Write one organization's data as JSON Lines (agents without their secrets, users, sessions, messages, memories, working memory)")
    .requiredOption('--org <id>', 'the organization')
    .option('-o, --out <file>', 'write here instead of stdout')
    .action((opts: { org: string; out?: string }) =>
      withStore(async (db) => {
        const out = opts.out ? createWriteStream(opts.out) : process.stdout;
        const counts = await exportOrg(db, opts.org, (line) => {
          if (!out.write(JSON.stringify(line) + '\n')) return new Promise<void>((r) => out.once('drain', () => r()));
        });
        if (!counts) throw new Error(`No organization ${opts.org} in this store.`);
        if (opts.out) {
          out.end();
          await finished(out);
        }
        console.error(`exported ${summary(counts)}`);
      }),
    );
}

export function importCommand(): Command {
  return new Command('import')
    .description(
      'Read an `agentmem export` into this store, in one transaction. A file for an organization this store already has is refused unless --org names it; then rows already here are kept (skipped)',
    )
    .argument('<file>', "the export ('-': stdin)")
    .option('--org <id>', "merge into this organization, which this store already has (it must be the file's own)")
    .option('--admin-key', 'also create an admin API key for the organization, printed once on stdout (API keys are not exported)')
    .action((file: string, opts: { org?: string; adminKey?: boolean }) =>
      withStore(async (db) => {
        const input = file === '-' ? process.stdin : createReadStream(file);
        const r = await importOrg(db, createInterface({ input, crlfDelay: Infinity }), {
          into: opts.org,
          // an organization's own endpoints (when merging into one that has them) hear of it
          finish: (tx, { org_id, inserted, skipped }) =>
            emitEvents(tx, org_id, [{ type: 'import.completed', user_id: null, data: { kind: 'organization', inserted, skipped } }]),
        });
        console.error(
          `imported organization ${r.org_id}: ${summary(r.inserted)}; already here (skipped): ${summary(Object.fromEntries(Object.entries(r.skipped).filter(([, n]) => n)))}`,
        );
        console.error('agents come without their secrets (API keys): give them again with PATCH /api/v1/agents/:id');
        if (opts.adminKey) {
          const { key } = await createApiKey(db, { org_id: r.org_id, name: 'import', role: 'admin' });
          process.stdout.write(`${key}\n`);
        }
      }),
    );
}

export function backupCommand(): Command {
  return new Command('backup')
    .description("Copy the embedded store (AGENTMEM_DATA_DIR) into one .tar.gz with PGlite's dumpDataDir; stop the server first")
    .requiredOption('-o, --out <file>', 'the .tar.gz to write')
    .action(async (opts: { out: string }) => {
      const config = configFromEnv();
      if (config.databaseUrl) return fail(new Error('DATABASE_URL is set: back PostgreSQL up with pg_dump (or use `agentmem export` per organization).'));
      const { backupPglite } = await import('../store/pglite/backup.ts');
      const bytes = await backupPglite(join(config.dataDir, 'pgdata'), opts.out).catch(fail);
      if (bytes !== undefined) console.error(`wrote ${opts.out} (${(bytes / 1024 / 1024).toFixed(1)} MiB)`);
    });
}

export function restoreCommand(): Command {
  return new Command('restore')
    .description('Open a backup (from `agentmem backup`) as the embedded store of an empty AGENTMEM_DATA_DIR')
    .argument('<file>', 'the .tar.gz')
    .action(async (file: string) => {
      const config = configFromEnv();
      if (config.databaseUrl) return fail(new Error('DATABASE_URL is set: restore PostgreSQL with pg_restore / psql.'));
      const { restorePglite } = await import('../store/pglite/backup.ts');
      await restorePglite(file, join(config.dataDir, 'pgdata')).catch(fail);
      console.error(`restored into ${config.dataDir}`);
    });
}
