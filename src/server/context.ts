// What route modules receive: the services below the server layer.
import type { Agents } from '../agent/agents.ts';
import type { AppConfig } from '../config.ts';
import type { Db } from '../store/db.ts';
import type { Auth, Principal } from './auth.ts';

export interface ServerContext {
  config: AppConfig;
  db: Db;
  auth: Auth;
  agents: Agents;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}
