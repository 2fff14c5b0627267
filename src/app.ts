// The composition root: opens the store, builds the services and the HTTP server.
// The CLI's `serve` and the tests both start agentmem through here.
import type { FastifyInstance } from 'fastify';
import { createAgents } from './agent/agents.ts';
import { bootstrapAdminKey } from './bootstrap.ts';
import type { AppConfig } from './config.ts';
import { buildServer } from './server/app.ts';
import { createAuth } from './server/auth.ts';
import type { Db } from './store/db.ts';
import { openStore } from './store/open.ts';
import { createSecretBox, loadSecretKey } from './store/secret-box.ts';

export interface Agentmem {
  url: string;
  server: FastifyInstance;
  db: Db;
  /** set only when this start created the first admin key */
  generatedAdminKey?: string;
  close(): Promise<void>;
}

export async function startAgentmem(config: AppConfig): Promise<Agentmem> {
  const db = await openStore(config.databaseUrl, config.dataDir);
  try {
    const box = createSecretBox(loadSecretKey(config.secretKey, config.dataDir));
    const generatedAdminKey = await bootstrapAdminKey(db, config.bootstrapKey);
    const server = await buildServer({ config, db, auth: createAuth(db), agents: createAgents(db, box) });
    const url = await server.listen({ port: config.port, host: config.host });
    return {
      url,
      server,
      db,
      generatedAdminKey,
      async close() {
        await server.close();
        await db.close();
      },
    };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}
