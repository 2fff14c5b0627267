// What extraction decides for one fact (extraction-prompt.ts parses the model's answer into
// these; memory-apply.ts applies them). Each event carries exactly the fields it needs.

export type MemoryDecision =
  /** a new fact */
  | { event: 'ADD'; text: string }
  /** a fact that changes or refines memory `id` (the old one is kept as history) */
  | { event: 'UPDATE'; id: string; text: string }
  /** memory `id` was contradicted or asked to be forgotten */
  | { event: 'DELETE'; id: string }
  /** already known (as memory `id`, when the model says which): nothing to do */
  | { event: 'NONE'; id?: string };

/** The decisions that write something: their text is what gets embedded. */
export type MemoryWrite = Exclude<MemoryDecision, { event: 'NONE' }>;

/** Whether a decision carries new content (ADD, UPDATE). */
export const hasText = (d: MemoryWrite): d is Extract<MemoryWrite, { text: string }> => d.event !== 'DELETE';
