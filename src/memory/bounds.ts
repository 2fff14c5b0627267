// The defaults of the in-process memory structures' budgets (config.ts reads the settings;
// docs/reliability.md "Memory bounds" says what each holds).

/** AGENTMEM_MEMORY_INDEX_BYTES: 256 MiB of memories' lexical indexes per instance (~0.5 KB a 70-character memory: ~500,000 memories). */
export const MEMORY_INDEX_BYTES = 256 * 1024 * 1024;

/** AGENTMEM_MESSAGE_INDEX_BYTES: 256 MiB of past messages' lexical indexes (episodic recall) per instance. */
export const MESSAGE_INDEX_BYTES = 256 * 1024 * 1024;

/** AGENTMEM_PREDICTION_BYTES: 64 MiB of predicted recall pools (48 memories with their vectors per scope: ~60 KB at 256 dimensions, ~1,000 scopes). */
export const PREDICTION_BYTES = 64 * 1024 * 1024;
