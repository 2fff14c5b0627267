// The memories API. An unknown agent_id or a failing memory.embedder is answered by
// client-error.ts (404, 400 or 502), as on every route.
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { filterSchema } from '../../memory/filters.ts';
import { messageRange, searchScope } from '../../memory/recall-config.ts';
import { isScoped } from '../auth.ts';
import { found, idParams, page, paged } from '../http.ts';
import type { ServerContext } from '../context.ts';
import { batchLimits, checkItems } from '../input-limits.ts';
import { checkOwner, memoryFilter, memoryOwner } from '../scope.ts';
import { userId } from './users.ts';

const agentId = z.uuid().describe('an agent of your organization; its memory.embedder embeds the memory');
const content = z.string().min(1).max(20_000).regex(/\S/, 'must not be blank');
const metadata = z.record(z.string(), z.unknown()).describe('free JSON object, returned as given');

const instant = z.iso.datetime({ offset: true }).transform((s) => new Date(s));

const memoryInput = z.strictObject({
  content,
  agent_id: agentId.optional(),
  user_id: userId.optional(),
  metadata: metadata.optional(),
  said_at: instant
    .optional()
    .describe('when the fact was said (an imported message time): relative dates ("yesterday") resolve from it, and the fact is valid from then'),
});

export const MAX_BATCH = batchLimits.member.items;
const batchInput = z.strictObject({
  memories: z.array(memoryInput).min(1).max(MAX_BATCH),
  agent_id: agentId.optional().describe('default for items that name none'),
  user_id: userId.optional().describe('default for items that name none'),
});

const memoryPatch = z
  .strictObject({ content: content.optional(), metadata: metadata.optional() })
  .refine((p) => p.content !== undefined || p.metadata !== undefined, 'give content or metadata');

const listQuery = page.extend({ agent_id: z.uuid().optional(), user_id: userId.optional() });

const searchInput = z
  .strictObject({
    query: z.string().min(1).max(10_000),
    agent_id: z.uuid().optional().describe("search this agent's memories with its embedder; default: all agents, default embedder"),
    user_id: userId.optional(),
    top_k: z.int().min(1).max(100).default(10),
    min_score: z.number().min(0).max(1).default(0).describe('minimum score of a result, 0..1 (see docs/memory.md)'),
    filters: filterSchema.optional().describe('metadata conditions: {"key": value}, {"key": {"gte": 3}}, {"and"|"or": [...]}, {"not": {...}}'),
    created_after: instant.optional(),
    created_before: instant.optional(),
    as_of: instant.optional().describe('what was true then: the facts valid at this time, superseded ones included (default: current facts)'),
    scope: searchScope.default('facts').describe("facts: memories; messages: past messages of agent_id's sessions (needs agent_id); both: fused"),
    message_range: messageRange.optional(),
  })
  .refine((b) => b.scope === 'facts' || b.agent_id !== undefined, {
    message: "scope messages/both searches one agent's sessions: give agent_id",
    path: ['scope'],
  });

export const memoryRoutes =
  (ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    const { memories } = ctx;
    const tags = ['memories'];
    const config = { access: 'scoped', resource: 'memory' } as const;

    /** The org's memory, within the key's scope (403 outside it). */
    async function memory(req: { principal: FastifyRequest['principal']; params: { id: string } }) {
      const m = await found('Memory', req.params.id, () => memories.get(req.principal.org_id, req.params.id));
      checkOwner(req.principal, m);
      return m;
    }

    app.post(
      '/memories',
      { config, schema: { body: memoryInput, tags, summary: 'Add a memory (201), or 200 with `duplicate_of` when its scope already holds the fact' } },
      async (req, reply) => {
        const memory = await memories.add(req.principal.org_id, memoryOwner(req.principal, req.body));
        return reply.code(memory.duplicate_of ? 200 : 201).send(memory);
      },
    );

    app.post(
      '/memories/batch',
      {
        // A large import is one request: its size by the kind of key (input-limits.ts).
        config: { ...config, inputLimits: batchLimits },
        bodyLimit: Math.max(ctx.config.bodyLimit, batchLimits.member.bytes),
        schema: { body: batchInput, tags, summary: `Add up to ${MAX_BATCH} memories (a scoped key: ${batchLimits.scoped.items}), all or nothing` },
      },
      async (req, reply) => {
        const { memories: items, agent_id, user_id } = req.body;
        checkItems(req.principal, batchLimits, items.length, 'memories');
        const withDefaults = items.map((m) => memoryOwner(req.principal, { ...m, agent_id: m.agent_id ?? agent_id, user_id: m.user_id ?? user_id }));
        const { ids, duplicates } = await memories.addMany(req.principal.org_id, withDefaults);
        // count: memories written; ids: one per item (a duplicate's is the memory holding its fact)
        return reply.code(201).send({ count: ids.length - duplicates.length, ids, duplicates });
      },
    );

    app.get('/memories', { config, schema: { querystring: listQuery, tags, summary: 'List memories, newest first' } }, async (req) => {
      const { limit, offset, ...filter } = req.query;
      return paged(await memories.list(req.principal.org_id, memoryFilter(req.principal, filter), limit + 1, offset), limit);
    });

    app.post(
      '/memories/search',
      { config, schema: { body: searchInput, tags, summary: 'Search (BM25, fused with the vector side for a model embedder), best first' } },
      async (req, reply) => {
        const t0 = performance.now();
        const results = await memories.search(req.principal.org_id, memoryFilter(req.principal, req.body));
        // the server's own time, for clients (and `agentmem bench recall`) to tell it from the network's
        reply.header('server-timing', `search;dur=${(performance.now() - t0).toFixed(3)}`);
        return { results };
      },
    );

    app.get('/memories/:id', { config, schema: { params: idParams, tags, summary: 'Get a memory' } }, async (req) => {
      return memory(req);
    });

    app.patch(
      '/memories/:id',
      { config, schema: { params: idParams, body: memoryPatch, tags, summary: 'Change content (re-embedded) or metadata' } },
      async (req) => {
        if (isScoped(req.principal)) await memory(req);
        return found('Memory', req.params.id, () => memories.update(req.principal.org_id, req.params.id, req.body));
      },
    );

    app.delete(
      '/memories/:id',
      { config, schema: { params: idParams, tags, summary: 'Erase a memory: its earlier versions and the content of its history go too (the events stay)' } },
      async (req, reply) => {
        if (isScoped(req.principal)) await memory(req);
        await found('Memory', req.params.id, async () => (await memories.delete(req.principal.org_id, req.params.id)) || undefined);
        return reply.code(204).send();
      },
    );

    // A scoped key reads the history of its user's memories that still exist (superseded ones included).
    app.get(
      '/memories/:id/history',
      {
        config,
        schema: {
          params: idParams,
          tags,
          summary: 'ADD / UPDATE / DELETE events of a memory (data), and its versions: each content with valid_from, valid_to and what superseded it',
        },
      },
      async (req) => {
        if (isScoped(req.principal)) await memory(req);
        const h = await found('Memory', req.params.id, () => memories.history(req.principal.org_id, req.params.id));
        return { data: h.events, memory_id: h.memory_id, versions: h.versions };
      },
    );
  };
