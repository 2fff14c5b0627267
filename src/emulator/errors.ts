// Every HTTP error the emulator can answer, in one table: status plus the body each
// provider really sends. OpenAI: {error: {message, type, param, code}}; Zhipu:
// {error: {code, message}} with STRING business codes (1002 bad token, 1302 too many
// concurrent requests, …); Anthropic: {type: "error", error: {type, message}} (and 529
// for overloaded).
import type { Format } from './formats.ts';

export type ErrorKind =
  | 'auth_missing'
  | 'auth_invalid'
  | 'auth_expired'
  | 'rate_limited'
  | 'server_error'
  | 'unavailable'
  | 'bad_json'
  | 'bad_messages'
  | 'context_length'
  | 'reasoning_in_input'
  | 'not_found'
  /** a request the provider refuses for a reason given in `detail` (Anthropic's missing header or field) */
  | 'invalid_request';

interface Entry {
  status: number;
  headers?: Record<string, string>;
  openai: (ctx: ErrorContext) => { message: string; type: string; param: string | null; code: string | null };
  zhipu: { code: string; message: string };
  /** Anthropic's error type and message; `status` where it differs (overloaded is 529) */
  anthropic: (ctx: ErrorContext) => { type: string; message: string; status?: number };
}

export interface ErrorContext {
  key?: string;
  model?: string;
  method?: string;
  path?: string;
  /** context_length: the model's window, the prompt's tokens, the completion's reserve */
  window?: number;
  prompt?: number;
  completion?: number;
  /** invalid_request: what is wrong */
  detail?: string;
}

export const emulatorErrors: Record<ErrorKind, Entry> = {
  auth_missing: {
    status: 401,
    openai: () => ({
      message:
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.",
      type: 'invalid_request_error',
      param: null,
      code: null,
    }),
    zhipu: { code: '1001', message: 'Header中未收到Authorization参数，无法进行身份验证。' },
    anthropic: () => ({ type: 'authentication_error', message: 'x-api-key header is required' }),
  },
  auth_invalid: {
    status: 401,
    openai: ({ key }) => ({
      message: `Incorrect API key provided: ${maskKey(key ?? '')}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      type: 'invalid_request_error',
      param: null,
      code: 'invalid_api_key',
    }),
    zhipu: { code: '1002', message: 'Authorization Token非法，请确认Authorization Token正确传递。' },
    anthropic: () => ({ type: 'authentication_error', message: 'invalid x-api-key' }),
  },
  auth_expired: {
    status: 401,
    openai: ({ key }) => emulatorErrors.auth_invalid.openai({ key }),
    zhipu: { code: '1003', message: 'Authorization Token过期。' },
    anthropic: () => ({ type: 'authentication_error', message: 'invalid x-api-key' }),
  },
  rate_limited: {
    status: 429,
    headers: { 'retry-after': '1' },
    openai: ({ model }) => ({
      message: `Rate limit reached for ${model ?? 'gpt-4o-mini'} in organization org-emulator on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
      type: 'requests',
      param: null,
      code: 'rate_limit_exceeded',
    }),
    zhipu: { code: '1302', message: '您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。' },
    anthropic: () => ({
      type: 'rate_limit_error',
      message:
        'This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.',
    }),
  },
  server_error: {
    status: 500,
    openai: () => ({
      message: 'The server had an error while processing your request. Sorry about that!',
      type: 'server_error',
      param: null,
      code: null,
    }),
    zhipu: { code: '500', message: 'Internal Error' },
    anthropic: () => ({ type: 'api_error', message: 'Internal server error' }),
  },
  unavailable: {
    status: 503,
    openai: () => ({
      message: 'The engine is currently overloaded, please try again later',
      type: 'server_error',
      param: null,
      code: null,
    }),
    zhipu: { code: '1312', message: '该模型当前访问量过大，请您稍后再试' },
    // Anthropic's "overloaded" is its own status, 529
    anthropic: () => ({ type: 'overloaded_error', message: 'Overloaded', status: 529 }),
  },
  bad_json: {
    status: 400,
    openai: () => ({
      message:
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
      type: 'invalid_request_error',
      param: null,
      code: null,
    }),
    zhipu: { code: '1210', message: 'API 调用参数有误，请检查文档。' },
    anthropic: () => ({ type: 'invalid_request_error', message: 'There was an error parsing the body of your request as JSON.' }),
  },
  bad_messages: {
    status: 400,
    openai: () => ({
      message: "Missing required parameter: 'messages'.",
      type: 'invalid_request_error',
      param: 'messages',
      code: 'missing_required_parameter',
    }),
    zhipu: { code: '1214', message: 'messages 参数非法。请检查文档。' },
    anthropic: () => ({ type: 'invalid_request_error', message: 'messages: Field required' }),
  },
  context_length: {
    status: 400,
    openai: ({ window, prompt, completion }) => ({
      message: completion
        ? `This model's maximum context length is ${window} tokens. However, you requested ${prompt! + completion} tokens (${prompt} in the messages, ${completion} in the completion). Please reduce the length of the messages or completion.`
        : `This model's maximum context length is ${window} tokens. However, your messages resulted in ${prompt} tokens. Please reduce the length of the messages.`,
      type: 'invalid_request_error',
      param: 'messages',
      code: 'context_length_exceeded',
    }),
    zhipu: { code: '1261', message: 'Prompt 超长' },
    anthropic: ({ window, prompt, completion }) => ({
      type: 'invalid_request_error',
      message:
        prompt! > window!
          ? `prompt is too long: ${prompt} tokens > ${window} maximum`
          : `input length and \`max_tokens\` exceed context limit: ${prompt} + ${completion} > ${window}, decrease input length or \`max_tokens\` and try again`,
    }),
  },
  reasoning_in_input: {
    status: 400,
    openai: () => ({
      message: 'The `reasoning_content` of an earlier answer must not be sent back in `messages`; remove it from the assistant messages.',
      type: 'invalid_request_error',
      param: 'messages',
      code: 'invalid_request_error',
    }),
    zhipu: { code: '1214', message: 'messages 参数非法。请检查文档。' },
    anthropic: () => ({ type: 'invalid_request_error', message: 'messages: reasoning content may not be sent back' }),
  },
  not_found: {
    status: 404,
    openai: ({ method, path }) => ({
      message: `Invalid URL (${method ?? 'POST'} ${path ?? '/'})`,
      type: 'invalid_request_error',
      param: null,
      code: null,
    }),
    zhipu: { code: '1211', message: '模型不存在，请检查模型代码。' },
    anthropic: () => ({ type: 'not_found_error', message: 'Not Found' }),
  },
  invalid_request: {
    status: 400,
    openai: ({ detail }) => ({ message: detail ?? 'Invalid request.', type: 'invalid_request_error', param: null, code: null }),
    zhipu: { code: '1210', message: 'API 调用参数有误，请检查文档。' },
    anthropic: ({ detail }) => ({ type: 'invalid_request_error', message: detail ?? 'Invalid request.' }),
  },
};

export function errorResponse(format: Format, kind: ErrorKind, ctx: ErrorContext = {}) {
  const e = emulatorErrors[kind];
  if (format === 'anthropic') {
    const { status, ...error } = e.anthropic(ctx);
    const headers = { 'content-type': 'application/json', 'request-id': `req_${Date.now().toString(36)}`, ...e.headers };
    return { status: status ?? e.status, headers, body: JSON.stringify({ type: 'error', error }) };
  }
  const body = format === 'zhipu' ? { error: e.zhipu } : { error: e.openai(ctx) };
  const contentType = format === 'zhipu' ? 'application/json' : 'application/json; charset=utf-8';
  return { status: e.status, headers: { 'content-type': contentType, ...e.headers }, body: JSON.stringify(body) };
}

// OpenAI shows only the ends of a wrong key.
function maskKey(key: string): string {
  return key.length <= 8 ? '*'.repeat(key.length) : `${key.slice(0, 3)}${'*'.repeat(Math.min(key.length - 7, 20))}${key.slice(-4)}`;
}
