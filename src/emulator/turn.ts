/** What the emulator will answer to one request: text (with its tokens) or tool calls, and the reasoning before it. */

export interface ToolCallOut {
  id: string;
  name: string;
  /** JSON text of the arguments */
  arguments: string;
}

/** `repeat`: the text is said that many times over (`~repeat=N`: a long answer without a long URL) */
export type Turn = ({ kind: 'text'; text: string; tokens: string[]; repeat: number } | { kind: 'tools'; calls: ToolCallOut[] }) & {
  /** the reasoning streamed before the answer, as tokens ([] for a model that does not think) */
  reasoning: string[];
};
