// What a scoped (end-user) key may touch: only its agents, and only as its user. A key
// a browser or a mobile app holds for one signed-in user. Routes open to scoped keys
// (access 'scoped') call these; unscoped keys pass every check unchanged.
import type { Principal } from './auth.ts';
import { AppError } from './errors.ts';

const forbidden = (message: string) => new AppError('forbidden', message);

/** The user a request acts as: the key's own user (a different one named is 403), or what the request names. */
export function actingUser(p: Principal, requested: string | undefined): string | undefined {
  if (p.user_id === null) return requested;
  if (requested !== undefined && requested !== p.user_id) throw forbidden('This API key acts only as its own user: leave user_id out, or name that user.');
  return p.user_id;
}

/** 403 unless the key may use this agent. */
export function checkAgent(p: Principal, agentId: string): void {
  if (p.agent_ids !== null && !p.agent_ids.includes(agentId)) throw forbidden('This API key may not use this agent.');
}

/** The agents a key may see: its own list, or undefined for any. */
export const agentFilter = (p: Principal): string[] | undefined => p.agent_ids ?? undefined;

/** 403 unless a session or memory (by its agent and user) is within the key's scope. */
export function checkOwner(p: Principal, owner: { agent_id: string | null; user_id: string | null }): void {
  if (p.user_id !== null && owner.user_id !== p.user_id) throw forbidden("This belongs to another user than this API key's.");
  if (p.agent_ids !== null && (owner.agent_id === null || !p.agent_ids.includes(owner.agent_id)))
    throw forbidden('This belongs to an agent this API key may not use.');
}

/** Which memories a list or search of a scoped key sees: its user's, of its agents. */
export function memoryFilter<T extends { agent_id?: string; user_id?: string }>(p: Principal, q: T): T & { agent_ids?: string[] } {
  const user_id = actingUser(p, q.user_id);
  if (q.agent_id !== undefined) checkAgent(p, q.agent_id);
  const agent_ids = q.agent_id === undefined ? agentFilter(p) : undefined;
  return { ...q, user_id, ...(agent_ids ? { agent_ids } : {}) };
}

/** A new memory of a scoped key: its user's, of one of its agents (its only agent when none is named). */
export function memoryOwner<T extends { agent_id?: string; user_id?: string }>(p: Principal, m: T): T {
  const user_id = actingUser(p, m.user_id);
  let agent_id = m.agent_id;
  if (agent_id === undefined && p.agent_ids?.length === 1) agent_id = p.agent_ids[0];
  if (agent_id === undefined && p.agent_ids !== null) throw new AppError('validation_error', 'agent_id: this API key is scoped to several agents: name one.');
  if (agent_id !== undefined) checkAgent(p, agent_id);
  return { ...m, user_id, agent_id };
}
