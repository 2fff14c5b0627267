// The agent's configuration: one zod schema that validates input, fills defaults,
// and documents the API (OpenAPI is generated from it).
import { z } from 'zod';
import { recallOptions } from '../memory/recall-config.ts';

const provider = z.enum(['simulated', 'openai-compatible', 'zhipu']);
const url = z.url({ protocol: /^https?$/ });

const fallback = z.strictObject({
  model: z.string().min(1),
  provider: provider.optional(),
  base_url: url.optional(),
  api_key: z.string().min(1).optional(),
  auth: z.enum(['bearer', 'jwt']).optional(),
  after_ms: z.int().min(0).max(600_000).default(5_000),
});

export const llmConfig = z.strictObject({
  provider: provider.default('simulated'),
  model: z.string().min(1).default('simulated-1'),
  base_url: url.optional(),
  api_key: z.string().min(1).optional(),
  auth: z.enum(['bearer', 'jwt']).optional(),
  temperature: z.number().min(0).max(2).optional(),
  max_tokens: z.int().min(1).max(1_000_000).optional(),
  first_token_timeout_ms: z.int().min(1).max(600_000).optional(),
  max_retries: z.int().min(0).max(10).optional(),
  /** latency profile of the simulated provider */
  simulated: z
    .strictObject({ first_token_ms: z.number().min(0).max(600_000).optional(), tokens_per_s: z.number().min(0).optional() })
    .optional(),
  fallback: fallback.optional(),
});

export const embedderConfig = z.strictObject({
  provider: z.enum(['local', 'openai-compatible', 'zhipu']).default('local'),
  model: z.string().min(1).optional(),
  dimensions: z.int().min(16).max(2048).default(256),
  base_url: url.optional(),
  api_key: z.string().min(1).optional(),
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
  extract: z.boolean().default(true),
  embedder: embedderConfig.prefault({}),
});

export const streamingConfig = z.strictObject({
  text_buffer_size: z.int().min(1).max(65_536).default(1),
  flush_interval_ms: z.int().min(0).max(10_000).default(20),
  emit_metadata: z.boolean().default(false),
  emit_memory_updates: z.boolean().default(false),
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
    headers: z.record(z.string(), z.string()).default({}),
    timeout_ms: z.int().min(1).max(120_000).default(10_000),
  }),
  z.strictObject({ type: z.literal('memory_search'), name: toolName.default('memory_search'), description: z.string().optional() }),
  z.strictObject({ type: z.literal('memory_save'), name: toolName.default('memory_save'), description: z.string().optional() }),
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
