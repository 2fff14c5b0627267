// What JSON input the store can hold, checked once where input arrives (the HTTP body
// parser, the WebSocket message handler) so that no write fails halfway through:
// PostgreSQL text and jsonb refuse NUL and lone UTF-16 surrogates (`"\ud800"` is valid
// JSON, not valid Unicode), and jsonb input nested a few thousand levels deep exceeds
// its stack ("stack depth limit exceeded"). One walk of the parsed value; strings are
// looked at only when the raw text could hold such a character (an escape or a NUL).

// \u0000 not itself escaped (an even run of backslashes before it).
const ESCAPED_NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;
// Strict: a body that is not UTF-8 is refused, never decoded with U+FFFD in place of its
// bad bytes (two different byte strings must never become one user_id).
const utf8 = new TextDecoder('utf-8', { fatal: true });

class JsonInputError extends Error {}
/** Fastify's own code for it, so it maps to invalid_json as before. */
class EmptyBodyError extends Error {
  code = 'FST_ERR_CTP_EMPTY_JSON_BODY';
  statusCode = 400;
  constructor() {
    super('The body is empty, but this route takes a JSON body.');
  }
}

/** What the parser reads of a request: whether its route takes a body. */
type BodyRequest = { routeOptions?: { schema?: { body?: unknown } } };
type Done = (err: Error | null, value?: unknown) => void;
/** Fastify's default JSON parser in its callback form (app.getDefaultJsonParser()). */
export type DefaultJsonParser = (req: BodyRequest, body: string, done: Done) => void;

/** A Fastify content-type parser (parseAs: 'buffer') around parseJsonBody; `refuse` makes the 400. */
export function jsonBodyParser(defaultParser: DefaultJsonParser, refuse: (message: string) => Error) {
  return (req: BodyRequest, body: string | Buffer, done: Done) => {
    // Fastify's JSON parser (secure-json-parse: __proto__ refused) answers synchronously.
    const parse = (text: string) => {
      let out: unknown;
      defaultParser(req, text, (err, value) => {
        if (err) throw err;
        out = value;
      });
      return out;
    };
    try {
      done(null, parseJsonBody(body as Buffer, parse, req.routeOptions?.schema?.body !== undefined));
    } catch (err) {
      done(err instanceof JsonInputError ? refuse(err.message) : (err as Error), undefined);
    }
  };
}

/**
 * The body of an application/json request: strict UTF-8, then JSON, then what the store
 * can hold. An empty body is no body (undefined) where the route takes none (`takesBody`
 * false): a DELETE that says `content-type: application/json` and sends nothing, as many
 * generated clients do. `parse` is Fastify's own JSON parser.
 */
export function parseJsonBody(raw: Buffer, parse: (text: string) => unknown, takesBody = true): unknown {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new JsonInputError('The body is not valid UTF-8.');
  }
  if (text.trim() === '') {
    if (takesBody) throw new EmptyBodyError();
    return undefined;
  }
  if (ESCAPED_NUL.test(text)) throw new JsonInputError('Text must not contain the NUL character (\\u0000).');
  const value = parse(text);
  const problem = jsonInputProblem(value, text);
  if (problem) throw new JsonInputError(problem);
  return value;
}

/** Deeper than any real body (OpenAI tool schemas included); free-JSON metadata too. */
export const MAX_JSON_DEPTH = 100;

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u; // with /u a valid pair is one code point and does not match

/** Why `value` (parsed from `raw`) cannot be stored, or undefined when it can. */
export function jsonInputProblem(value: unknown, raw: string): string | undefined {
  const strings = raw.includes('\\u0000') || raw.includes('\0') || SURROGATE_ESCAPE.test(raw);
  const badString = (s: string) =>
    s.includes('\0')
      ? 'Text must not contain the NUL character (\\u0000).'
      : LONE_SURROGATE.test(s)
        ? 'Text must be valid Unicode: a lone surrogate (\\ud800–\\udfff) cannot be stored.'
        : undefined;
  // Only containers (and, when they may matter, strings) are visited: numbers cost nothing.
  const visit = (x: unknown) => (x !== null && typeof x === 'object') || (strings && typeof x === 'string');
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (typeof v === 'string') {
      const problem = strings ? badString(v) : undefined;
      if (problem) return problem;
    } else if (v !== null && typeof v === 'object') {
      if (depth >= MAX_JSON_DEPTH) return `JSON must not be nested deeper than ${MAX_JSON_DEPTH} levels.`;
      if (Array.isArray(v)) {
        for (const x of v) if (visit(x)) stack.push([x, depth + 1]);
      } else {
        for (const [k, x] of Object.entries(v)) {
          const problem = strings ? badString(k) : undefined;
          if (problem) return problem;
          if (visit(x)) stack.push([x, depth + 1]);
        }
      }
    }
  }
  return undefined;
}
