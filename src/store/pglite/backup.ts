// A backup of the embedded store with PGlite's own tooling: dumpDataDir() writes the whole
// data directory as one gzipped tarball, and PGlite opens such a tarball (loadDataDir) into
// an empty directory. Run with the server stopped: PGlite is one process's database.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';

/** Writes the data directory `dataDir` as a .tar.gz to `file`; returns its size in bytes. */
export async function backupPglite(dataDir: string, file: string): Promise<number> {
  if (!existsSync(dataDir) || !readdirSync(dataDir).length) throw new Error(`There is no embedded store in ${dataDir}.`);
  const pg = await PGlite.create({ dataDir, extensions: { vector } });
  try {
    const dump = await pg.dumpDataDir('gzip');
    const bytes = Buffer.from(await dump.arrayBuffer());
    await writeFile(file, bytes);
    return bytes.length;
  } finally {
    await pg.close();
  }
}

/** Opens the tarball `file` (from backupPglite) as the data directory `dataDir`, which must be empty or absent. */
export async function restorePglite(file: string, dataDir: string): Promise<void> {
  if (existsSync(dataDir) && readdirSync(dataDir).length)
    throw new Error(`${dataDir} is not empty: restore into a new data directory (AGENTMEM_DATA_DIR), or move this one away first.`);
  await mkdir(dataDir, { recursive: true });
  const pg = await PGlite.create({ dataDir, loadDataDir: new Blob([await readFile(file)]), extensions: { vector } });
  try {
    await pg.query('select 1 from agentmem_migrations limit 1');
  } finally {
    await pg.close();
  }
}
