// The types a turn's phases share (turn-begin, turn-steps, turn-finish) and its callers
// see: what is asked, what the turn runs with, what it answers. A leaf: the phases and
// run.ts import it, it imports none of them.
import type { Dispatcher } from 'undici';
import type { ChatMessage, FinishReason, LlmRequest, ToolCall, ToolSpec, Usage } from '../llm/types.ts';
import type { Exchange, HistoryStore } from '../memory/history.ts';
import type { MemoryChange } from '../memory/memories.ts';
import type { RecalledMemory } from '../memory/recall.ts';
import type { WorkingMemories } from '../memory/working-memory.ts';
import type { Timings } from '../trace/timings.ts';
import type { ReadyAgent } from './cache.ts';
import type { McpTools } from './mcp-tools.ts';
import type { MemoryTools, ToolResult } from './tools.ts';
import type { TurnError } from './turn-errors.ts';

/** A tool call as stored with the answer: what was asked, in which step, and what came back (`client`: left to the caller to run). */
export type StoredToolCall = ToolCall & ToolResult & { step: number; client?: true };

export interface ChatInput {
  orgId: string;
  message: string;
  userId?: string;
  sessionId?: string;
  /** earlier messages the client sent itself (OpenAI-style clients); used instead of the stored window */
  history?: ChatMessage[];
  /** OpenAI-style clients: their own system messages, after the agent's */
  system?: string[];
  /** OpenAI-style clients: sampling settings for this turn, over the agent's */
  request?: Pick<LlmRequest, 'temperature' | 'top_p' | 'max_tokens' | 'stop' | 'seed'>;
  /** tools the client declared and runs itself: a call to one ends the turn with finish_reason tool_calls */
  clientTools?: ToolSpec[];
  /** after the user's message: the tool round the client answers (the model's calls, their results) */
  continuation?: ChatMessage[];
}

export interface RunDeps {
  history: HistoryStore;
  /** semantic recall under the agent's budget; never throws, [] when skipped (or when `signal` fires) */
  recall?: (agent: ReadyAgent, userId: string | null, query: string, timings: Timings, signal?: AbortSignal) => Promise<RecalledMemory[]>;
  /** after an answer is stored: queues memory extraction; resolves with the changes when the caller wants them */
  afterTurn?: (agent: ReadyAgent, exchange: Exchange, answer: string, wait: boolean) => Promise<MemoryChange[]>;
  /** for the built-in memory tools */
  memories?: MemoryTools;
  /** working memory (memory.working): the prompt's block and the working_memory_update tool */
  working?: WorkingMemories;
  /** the app's connection pool, for HTTP tools (its egress policy applies to them) */
  dispatcher: Dispatcher;
  /** the agents' MCP servers (connected on an agent's first use, their tool lists cached) */
  mcp?: McpTools;
  /** counts runs before their first token, so background work can wait for none */
  gate?: { enter(): void; leave(): void };
}

export interface RunResult {
  sessionId: string;
  messageId: string;
  content: string;
  /** what a thinking model reasoned ('' for others) */
  reasoning: string;
  finishReason: FinishReason | null;
  usage: Usage | null;
  error?: TurnError;
  aborted: boolean;
  /** the model that answered (the fallback's, if it won the race) */
  model: string;
}
