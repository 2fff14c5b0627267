// @agentmem/client: the typed REST API, streamed turns, errors with the server's code.
// The AI SDK middleware is its own entry, @agentmem/client/ai-sdk (it needs `ai`).
export { createAgentmemClient } from './client.ts';
export type {
  AgentmemClient,
  AgentmemClientOptions,
  Api,
  ChatRequest,
  ContextAnswer,
  ContextRequest,
  ExchangeAnswer,
  ExchangeRequest,
  StreamOptions,
  components,
  paths,
} from './client.ts';
export type { ChatStream } from './chat-stream.ts';
export type { ChatEvent, ChunkType, FinishReason, Stage, Timings, Usage } from './events.ts';
export { AgentmemError, isAgentmemError, type ErrorBody, type ErrorCode } from './errors.ts';
