// Managing an organization's webhook endpoints: every URL passes the egress policy when it
// is set (a refused one is a 400 then, and the connection is checked again at each
// delivery); a secret is made here, sealed with the endpoint's origin, and returned once —
// at creation, at a rotation, and when the URL moves to another origin (a secret never
// signs for an origin it was not issued for).
import { randomUUID } from 'node:crypto';
import { checkTarget, type EgressPolicy } from '../llm/egress.ts';
import type { Db } from '../store/db.ts';
import * as repo from '../store/repos/webhooks.ts';
import type { SecretBox } from '../store/secret-box.ts';
import { newSecret, sealSecret } from './signature.ts';

export interface EndpointInput {
  url: string;
  events: string[];
  description?: string | null;
  enabled?: boolean;
}

export function createWebhookEndpoints(db: Db, deps: { box: SecretBox; egress: EgressPolicy }) {
  async function checkUrl(url: string): Promise<void> {
    const denied = await checkTarget(deps.egress, url);
    if (denied) throw denied;
  }

  return {
    /** The endpoint and its secret (the only time it is shown). */
    async create(orgId: string, input: EndpointInput): Promise<{ endpoint: repo.WebhookEndpoint; secret: string }> {
      await checkUrl(input.url);
      const secret = newSecret();
      const endpoint = await repo.createEndpoint(db, {
        id: randomUUID(),
        org_id: orgId,
        url: input.url,
        description: input.description ?? null,
        events: [...new Set(input.events)],
        enabled: input.enabled ?? true,
        secret: sealSecret(deps.box, input.url, secret),
      });
      return { endpoint, secret };
    },

    /** Undefined when the org has no such endpoint; `secret` when the URL moved to another origin. */
    async update(orgId: string, id: string, change: Partial<EndpointInput>): Promise<{ endpoint: repo.WebhookEndpoint; secret?: string } | undefined> {
      const current = await repo.getEndpoint(db, orgId, id);
      if (!current) return undefined;
      let secret: string | undefined;
      if (change.url !== undefined) {
        await checkUrl(change.url);
        if (new URL(change.url).origin !== new URL(current.url).origin) secret = newSecret();
      }
      const endpoint = await repo.updateEndpoint(db, orgId, id, {
        ...change,
        events: change.events && [...new Set(change.events)],
        secret: secret === undefined ? undefined : sealSecret(deps.box, change.url!, secret),
      });
      return endpoint && { endpoint, secret };
    },

    /** A new secret for the endpoint (the old one stops signing at once); undefined when there is no such endpoint. */
    async rotate(orgId: string, id: string): Promise<{ endpoint: repo.WebhookEndpoint; secret: string } | undefined> {
      const current = await repo.getEndpoint(db, orgId, id);
      if (!current) return undefined;
      const secret = newSecret();
      const endpoint = await repo.updateEndpoint(db, orgId, id, { secret: sealSecret(deps.box, current.url, secret) });
      return endpoint && { endpoint, secret };
    },
  };
}

export type WebhookEndpoints = ReturnType<typeof createWebhookEndpoints>;
