// The `model` label of a metric: a bounded set. A model name comes from a tenant's agent
// config (or from the upstream's answer), so as a label it would put one tenant's names in
// front of whoever reads /metrics and add a series per name, without bound. Only names the
// platform knows become labels: the public models of the providers agentmem speaks, and
// those the operator lists (AGENTMEM_METRICS_MODELS); every other name is "other". A dated
// snapshot of a known model (gpt-4o-2024-08-06) counts as that model.
// A turn's own model is in its `done` event and its span, never in a label.

/** The label every model outside the known set gets. */
export const OTHER_MODEL = 'other';

/** The providers' public model names (and the simulated provider's default). */
export const KNOWN_MODELS: readonly string[] = [
  'simulated-1',
  // OpenAI
  'gpt-3.5-turbo',
  'gpt-4',
  'gpt-4-turbo',
  'gpt-4o',
  'gpt-4o-mini',
  'gpt-4.1',
  'gpt-4.1-mini',
  'gpt-4.1-nano',
  'gpt-5',
  'gpt-5-mini',
  'gpt-5-nano',
  'o1',
  'o1-mini',
  'o3',
  'o3-mini',
  'o4-mini',
  // Zhipu
  'glm-4',
  'glm-4-plus',
  'glm-4-air',
  'glm-4-airx',
  'glm-4-flash',
  'glm-4-flashx',
  'glm-4-long',
  'glm-4.5',
  'glm-4.5-air',
  'glm-4.5-flash',
  'glm-4.6',
  // OpenAI-compatible providers
  'deepseek-chat',
  'deepseek-reasoner',
  'qwen-turbo',
  'qwen-plus',
  'qwen-max',
  'moonshot-v1-8k',
  'moonshot-v1-32k',
  'moonshot-v1-128k',
  // Anthropic
  'claude-3-5-haiku-latest',
  'claude-3-7-sonnet-latest',
  'claude-sonnet-4-0',
  'claude-sonnet-4-5',
  'claude-opus-4-1',
  'claude-haiku-4-5',
];

/** At most this many operator names (AGENTMEM_METRICS_MODELS), each at most MODEL_LABEL_MAX_CHARS. */
export const EXTRA_MODELS_MAX = 200;
export const MODEL_LABEL_MAX_CHARS = 100;

const DATED = /-(\d{4}-\d{2}-\d{2}|\d{8})$/;

/** model name → its label: itself when known, else "other". */
export function modelLabeller(extra: readonly string[] = []): (model: string) => string {
  const known = new Set(KNOWN_MODELS);
  for (const m of extra.slice(0, EXTRA_MODELS_MAX)) if (m.length <= MODEL_LABEL_MAX_CHARS) known.add(m);
  return (model) => {
    if (known.has(model)) return model;
    const base = model.replace(DATED, '');
    return base !== model && known.has(base) ? base : OTHER_MODEL;
  };
}
