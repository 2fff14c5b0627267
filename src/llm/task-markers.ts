// The first words of the system prompt of agentmem's own background requests. Memory
// writes them; the simulated model reads them to know which task it is asked to do.
// They live here, below both, so the model never imports memory.

export const EXTRACTION_MARKER = '[agentmem:extract-v1]';
export const SUMMARY_MARKER = '[agentmem:summarize-v1]';
