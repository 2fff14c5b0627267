// The webhook worker: sends the outbox (webhook_deliveries) off the request path, on every
// instance. A delivery is leased with SKIP LOCKED (no two instances send one row at once;
// a dead instance's lease runs out and any instance sends it again: at least once, with the
// same webhook-id and body). Each endpoint has at most `perEndpoint` requests in flight
// here, every request a deadline, and connections of their own (an undici Agent apart from
// the model providers' pool, under the same egress policy, no redirect followed): a slow
// or failing endpoint holds its own slots only, never another endpoint's or a chat turn's.
// Failures retry with exponential backoff until `maxAttempts`.
import { Agent } from 'undici';
import type { FirstTokenGate } from '../memory/jobs.ts';
import { egressConnector, egressDenial, type EgressPolicy } from '../llm/egress.ts';
import type { Db } from '../store/db.ts';
import * as repo from '../store/repos/webhooks.ts';
import type { SecretBox } from '../store/secret-box.ts';
import { openSecret, signatureHeaders } from './signature.ts';

export interface DeliveryOptions {
  box: SecretBox;
  egress: EgressPolicy;
  /** deliveries wait while a chat request awaits its first token (as background jobs do) */
  gate?: FirstTokenGate;
  /** one attempt's deadline: connect, answer and body */
  timeoutMs: number;
  /** the first retry's delay; each next one doubles, up to an hour */
  backoffMs: number;
  maxAttempts: number;
  /** deliveries are deleted this long after they were created */
  retentionMs: number;
  /** requests in flight to one endpoint, per instance */
  perEndpoint?: number;
  /** requests in flight on this instance, all endpoints */
  maxInFlight?: number;
  pollMs?: number;
  onError?: (err: unknown, delivery?: { id: string; endpoint_id: string; attempt: number }) => void;
}

const MAX_BACKOFF_MS = 3_600_000;

/** The delay before retry number `attempt` (1: the first retry). */
export const backoff = (baseMs: number, attempt: number) => Math.min(MAX_BACKOFF_MS, baseMs * 2 ** (attempt - 1));

export function createWebhookDelivery(db: Db, opts: DeliveryOptions) {
  const { box, timeoutMs, backoffMs, maxAttempts, retentionMs, perEndpoint = 2, maxInFlight = 64, pollMs = 1_000 } = opts;
  // A lease outlives an attempt's deadline, so a live instance never loses its row to another.
  const leaseMs = 2 * timeoutMs + 1_000;
  const purgeEveryMs = Math.max(1_000, Math.min(retentionMs, 3_600_000));
  const agent = new Agent({
    connect: egressConnector(opts.egress),
    // No per-origin connection cap: endpoints sharing an origin must not queue behind each
    // other's hung requests (the worker bounds each endpoint, and the total, itself).
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: timeoutMs,
  });
  // Endpoint id → requests in flight here. Bounded: at most maxInFlight entries (a count
  // reaching zero is deleted).
  const inFlight = new Map<string, number>();
  // The rows being sent, for a graceful stop to give back.
  const sending = new Map<string, AbortController>();
  let total = 0;
  let running = false;
  let lastPurge = 0;
  let wake: (() => void) | undefined;
  let loop: Promise<void> | undefined;

  const busy = () => [...inFlight].filter(([, n]) => n >= perEndpoint).map(([id]) => id);

  async function send(d: repo.ClaimedDelivery): Promise<void> {
    const controller = new AbortController();
    sending.set(d.id, controller);
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    let outcome: { ok: true; status: number } | { ok: false; status: number | null; error: string; final?: boolean };
    try {
      const secret = openSecret(box, d.secret, d.url);
      if (secret === undefined) outcome = { ok: false, status: null, error: "the endpoint's secret was issued for another origin", final: true };
      else {
        const url = new URL(d.url);
        const res = await agent.request({
          origin: url.origin,
          path: url.pathname + url.search,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'agentmem-webhooks', ...signatureHeaders(secret, d.id, d.body) },
          body: d.body,
          signal: controller.signal,
        });
        await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
        // 2xx only: a redirect is not followed (the signed body goes to the endpoint's URL alone).
        outcome =
          res.statusCode >= 200 && res.statusCode < 300
            ? { ok: true, status: res.statusCode }
            : { ok: false, status: res.statusCode, error: `HTTP ${res.statusCode}` };
      }
    } catch (err) {
      if (!running && controller.signal.aborted) {
        // A graceful stop: the row goes back, due at once, for whichever instance is next.
        await repo.releaseDelivery(db, d.id).catch(() => {});
        return;
      }
      // A refusal by the egress policy is final: the same policy would refuse every retry.
      const denied = egressDenial(err);
      if (denied) outcome = { ok: false, status: null, error: denied.message, final: true };
      else outcome = { ok: false, status: null, error: controller.signal.aborted ? String(controller.signal.reason?.message) : errorText(err) };
    } finally {
      clearTimeout(timer);
      sending.delete(d.id);
    }
    if (outcome.ok) await repo.markDelivered(db, d.id, outcome.status);
    else {
      opts.onError?.(new Error(outcome.error), { id: d.id, endpoint_id: d.endpoint_id, attempt: d.attempts });
      const retry = outcome.final || d.attempts >= maxAttempts ? null : backoff(backoffMs, d.attempts);
      await repo.markFailed(db, d.id, { status: outcome.status, error: outcome.error, retryInMs: retry });
    }
  }

  function start(d: repo.ClaimedDelivery) {
    total++;
    inFlight.set(d.endpoint_id, (inFlight.get(d.endpoint_id) ?? 0) + 1);
    void send(d)
      .catch((err) => opts.onError?.(err, { id: d.id, endpoint_id: d.endpoint_id, attempt: d.attempts }))
      .finally(() => {
        total--;
        const n = inFlight.get(d.endpoint_id)! - 1;
        if (n) inFlight.set(d.endpoint_id, n);
        else inFlight.delete(d.endpoint_id);
        wake?.(); // a slot is free
      });
  }

  async function work() {
    while (running) {
      let claimed = false;
      try {
        await opts.gate?.quiet();
        if (total < maxInFlight && running) {
          const d = await repo.claimDelivery(db, leaseMs, busy());
          if (d && running) {
            start(d);
            claimed = true;
          } else if (d) await repo.releaseDelivery(db, d.id);
        }
        if (!claimed && Date.now() - lastPurge >= purgeEveryMs) {
          lastPurge = Date.now();
          await repo.purgeDeliveries(db, retentionMs);
        }
      } catch (err) {
        opts.onError?.(err);
      }
      if (claimed || !running) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
    }
  }

  return {
    /** Looks at the table now (an event was just committed), rather than at the next poll. */
    wake: () => wake?.(),
    /** requests in flight here, and to how many endpoints */
    stats: () => ({ inFlight: total, endpoints: inFlight.size }),
    start() {
      if (running) return;
      running = true;
      loop = work();
    },
    /** Stops claiming; requests in flight are ended and their rows given back, due at once. */
    async stop() {
      running = false;
      wake?.();
      await loop;
      for (const c of sending.values()) c.abort(new Error('shutting down'));
      while (total > 0) await new Promise((r) => setTimeout(r, 10));
      await agent.close();
    },
  };
}

const errorText = (err: unknown) => {
  const e = err as { message?: string; code?: string; cause?: { message?: string; code?: string } };
  return [e.code ?? e.cause?.code, e.message ?? String(err), e.cause?.message].filter(Boolean).join(': ').slice(0, 500);
};

export type WebhookDelivery = ReturnType<typeof createWebhookDelivery>;
