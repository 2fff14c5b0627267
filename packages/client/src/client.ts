// The client: every REST route typed from the server's OpenAPI document (schema.ts, generated)
// through openapi-fetch, and by hand only what the document cannot say: a streamed turn
// (chat-stream.ts) and its resumption. Plain fetch only, so it runs in a browser as in Node.
import createClient, { type Client } from 'openapi-fetch';
import { chatStream, type ChatStream } from './chat-stream.ts';
import { toAgentmemError } from './errors.ts';
import type { components, paths } from './schema.ts';

export type Api = Client<paths>;

type StreamBody = NonNullable<paths['/api/v1/agents/{id}/chat/stream']['post']['requestBody']>['content']['application/json'];
export type ChatRequest = StreamBody;
export type ContextRequest = NonNullable<paths['/api/v1/agents/{id}/context']['post']['requestBody']>['content']['application/json'];
export type ContextAnswer = paths['/api/v1/agents/{id}/context']['post']['responses'][200]['content']['application/json'];
export type ExchangeRequest = NonNullable<paths['/api/v1/agents/{id}/exchanges']['post']['requestBody']>['content']['application/json'];
export type ExchangeAnswer = paths['/api/v1/agents/{id}/exchanges']['post']['responses'][201]['content']['application/json'];
export type { components, paths };

export interface AgentmemClientOptions {
  /** where agentmem listens, e.g. `http://localhost:8080` */
  baseUrl: string;
  /** an API key: admin, member, or a scoped key a browser holds for one user */
  apiKey: string;
  /** another fetch (defaults to globalThis.fetch) */
  fetch?: (input: Request) => Promise<Response>;
  /** how many times a dropped chat stream is resumed (Last-Event-ID) before its failure is thrown; default 3 */
  reconnects?: number;
}

export interface StreamOptions {
  signal?: AbortSignal;
}

export interface AgentmemClient {
  /** every REST route, typed: `api.GET('/api/v1/agents')`, `api.POST('/api/v1/memories', {body})`, answers `{data, error, response}` */
  api: Api;
  /** a turn streamed as native events (POST /agents/:id/chat/stream); resumed by itself when the connection drops */
  stream(agentId: string, body: ChatRequest, opts?: StreamOptions): ChatStream;
  /** a held stream's frames after `lastEventId` ('0' or none: from the start), then its live rest */
  resume(agentId: string, messageId: string, lastEventId?: string, opts?: StreamOptions): ChatStream;
  /** the messages to send your own model for `message` (POST /agents/:id/context); throws an AgentmemError on a 4xx/5xx */
  context(agentId: string, body: ContextRequest, opts?: StreamOptions): Promise<ContextAnswer>;
  /** stores an exchange with your own model (POST /agents/:id/exchanges); throws an AgentmemError on a 4xx/5xx */
  storeExchange(agentId: string, body: ExchangeRequest, opts?: StreamOptions): Promise<ExchangeAnswer>;
}

export function createAgentmemClient(options: AgentmemClientOptions): AgentmemClient {
  const { baseUrl, apiKey, fetch, reconnects = 3 } = options;
  const api = createClient<paths>({ baseUrl: baseUrl.replace(/\/$/, ''), headers: { authorization: `Bearer ${apiKey}` }, ...(fetch ? { fetch } : {}) });

  const resumeRequest = async (agentId: string, messageId: string, lastEventId: string, signal?: AbortSignal) => {
    const { response, error } = await api.GET('/api/v1/agents/{id}/chat/stream/{message_id}', {
      params: { path: { id: agentId, message_id: messageId } },
      headers: { 'last-event-id': lastEventId },
      parseAs: 'stream',
      signal,
    });
    if (error !== undefined || !response.ok) throw toAgentmemError(error, response);
    return response;
  };

  return {
    api,
    stream(agentId, body, opts = {}) {
      return chatStream({
        async open() {
          const { response, error } = await api.POST('/api/v1/agents/{id}/chat/stream', {
            params: { path: { id: agentId } },
            body,
            parseAs: 'stream',
            signal: opts.signal,
          });
          if (error !== undefined || !response.ok) throw toAgentmemError(error, response);
          return response;
        },
        resume: (messageId, lastEventId) => resumeRequest(agentId, messageId, lastEventId, opts.signal),
        reconnects,
        signal: opts.signal,
      });
    },
    resume(agentId, messageId, lastEventId = '0', opts = {}) {
      return chatStream({
        open: () => resumeRequest(agentId, messageId, lastEventId, opts.signal),
        resume: (id, last) => resumeRequest(agentId, id, last, opts.signal),
        reconnects,
        signal: opts.signal,
      });
    },
    async context(agentId, body, opts = {}) {
      const { data, error, response } = await api.POST('/api/v1/agents/{id}/context', { params: { path: { id: agentId } }, body, signal: opts.signal });
      if (error !== undefined || !data) throw toAgentmemError(error, response);
      return data;
    },
    async storeExchange(agentId, body, opts = {}) {
      const { data, error, response } = await api.POST('/api/v1/agents/{id}/exchanges', { params: { path: { id: agentId } }, body, signal: opts.signal });
      if (error !== undefined || !data) throw toAgentmemError(error, response);
      return data;
    },
  };
}
