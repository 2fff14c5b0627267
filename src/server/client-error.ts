// The one place an error becomes what a client is answered: every error class from below
// the server gets its code from errors.ts's table here, and so do Fastify's own (validation,
// body parsing). The HTTP error handlers (app.ts, OpenAI's shape in routes/openai.ts), MCP
// tool results and WebSocket events all ask it, so a code means the same on every surface.
import type { FastifyError, FastifyReply } from 'fastify';
import { AgentConfigError } from '../agent/agents.ts';
import { AgentEgressError } from '../agent/egress-check.ts';
import { ChatInputError, type TurnErrorCode } from '../agent/turn-errors.ts';
import { egressDenial } from '../llm/egress.ts';
import { EmbedderError } from '../memory/embedders/index.ts';
import { SupersededMemoryError, UnknownAgentError } from '../memory/memories.ts';
import { isStoreUnavailable, STORE_RETRY_AFTER_S } from '../store/unavailable.ts';
import { AppError, errorCodes, notFound, type ErrorCode } from './errors.ts';
import { UnsupportedField } from './routes/openai-request.ts';

export interface ClientError {
  status: number;
  code: ErrorCode;
  message: string;
}

/** An error from below the server as the AppError a client sees; undefined when it is none of the client's business (a 500). */
export function knownError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  // a turn that cannot run (unknown session, another user's, too long for the window)
  if (err instanceof ChatInputError) return new AppError(err.code, err.message);
  if (err instanceof AgentConfigError || err instanceof UnsupportedField) return new AppError('validation_error', err.message);
  if (err instanceof AgentEgressError) return new AppError('egress_denied', err.message);
  if (err instanceof UnknownAgentError) return notFound('Agent');
  if (err instanceof SupersededMemoryError) return new AppError('conflict', err.message);
  if (err instanceof EmbedderError) return embedderError(err);
  if (isStoreUnavailable(err)) return new AppError('storage_unavailable');
  return undefined;
}

/** An agent's memory.embedder failing: its config (400), AGENTMEM_EGRESS refusing it (400), or the embedder itself (502). */
function embedderError(err: EmbedderError): AppError {
  const denied = egressDenial(err);
  if (denied) return new AppError('egress_denied', `The agent's memory.embedder is refused: ${denied.message}`);
  if (err.kind === 'config') return new AppError('validation_error', `The agent's memory.embedder is invalid: ${err.message}`);
  return new AppError('upstream_error', `The embedder failed: ${err.message}`);
}

/**
 * For the server's log: what a refused host name resolved to, which the tenant's answer
 * leaves out (egress.ts); undefined when `err` is no egress refusal.
 */
export function egressLogDetail(err: unknown): string[] | undefined {
  if (err instanceof AgentEgressError) return err.refused.map(({ path, denied }) => `${path}: ${denied.detail ?? denied.reason}`);
  const denied = egressDenial(err);
  return denied && [denied.detail ?? denied.reason];
}

/** Awaits `work`, turning a known error into its AppError (for answers written outside the HTTP error handler: MCP tool results). */
export async function asClientError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw knownError(err) ?? err;
  }
}

/** Any error reaching an HTTP error handler: status, code and message of the answer. */
export function toClientError(err: FastifyError): ClientError {
  const known = knownError(err);
  if (known) return { status: known.status, code: known.code, message: known.message };
  if (err.validation) {
    const where = err.validationContext ?? 'body';
    const detail = err.validation
      .map(
        (v) =>
          `${[
            where,
            ...String(v.instancePath ?? '')
              .split('/')
              .filter(Boolean),
          ].join('.')}: ${v.message}`,
      )
      .join('; ');
    return { status: 400, code: 'validation_error', message: detail || err.message };
  }
  const mapped = byFastifyCode[err.code];
  if (mapped) return { status: errorCodes[mapped].status, code: mapped, message: err.message };
  if (err instanceof SyntaxError) return { status: 400, code: 'invalid_json', message: err.message };
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return { status, code: status === 404 ? 'not_found' : 'bad_request', message: err.message };
  return { status: 500, code: 'internal_error', message: errorCodes.internal_error.message };
}

const byFastifyCode: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
};

// A turn that ended in an error is answered (as one JSON body) with the table's status when
// the cause is the server's own state or a timeout; any other failure is the gateway's.
const ownStatus = new Set<TurnErrorCode>(['egress_denied', 'upstream_timeout', 'shutting_down', 'storage_unavailable']);

/** HTTP status of a JSON answer whose turn ended in the error `code` (a target AGENTMEM_EGRESS refuses: the config's fault, 400). */
export const failedTurnStatus = (code: TurnErrorCode): number => (ownStatus.has(code) ? errorCodes[code].status : 502);

/** A 503 says when to come back (the store, or this instance shutting down: another will answer). */
export function setStatus(reply: FastifyReply, status: number): FastifyReply {
  if (status === 503) reply.header('retry-after', String(STORE_RETRY_AFTER_S));
  return reply.code(status);
}
