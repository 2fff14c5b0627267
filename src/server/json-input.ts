// What JSON input the store can hold, checked once where input arrives (the HTTP body
// parser, the WebSocket message handler) so that no write fails halfway through:
// PostgreSQL text and jsonb refuse NUL and lone UTF-16 surrogates (`"\ud800"` is valid
// JSON, not valid Unicode), and jsonb input nested a few thousand levels deep exceeds
// its stack ("stack depth limit exceeded"). One walk of the parsed value; strings are
// looked at only when the raw text could hold such a character (an escape or a NUL).

/** Deeper than any real body (OpenAI tool schemas included); free-JSON metadata too. */
export const MAX_JSON_DEPTH = 100;

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u; // with /u a valid pair is one code point and does not match

/** Why `value` (parsed from `raw`) cannot be stored, or undefined when it can. */
export function jsonInputProblem(value: unknown, raw: string): string | undefined {
  const strings = raw.includes('\\u0000') || raw.includes('\0') || SURROGATE_ESCAPE.test(raw);
  const badString = (s: string) =>
    s.includes('\0') ? 'Text must not contain the NUL character (\\u0000).' : LONE_SURROGATE.test(s) ? 'Text must be valid Unicode: a lone surrogate (\\ud800–\\udfff) cannot be stored.' : undefined;
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
