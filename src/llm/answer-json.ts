// The JSON object in a model's answer, for background calls that ask for JSON (memory
// extraction, summaries). Thinking models and chatty ones wrap it: a <think> block before
// it (braces inside the thoughts too), a ```json fence, prose around it. Tried in order:
// fenced blocks, the outermost braces, then every balanced object, first that parses wins.

export function jsonObjectOf(answer: string): Record<string, unknown> | undefined {
  // Reasoning inline in the answer (models served without a reasoning field): drop it, closed or not.
  const text = answer
    .replace(/<think>[\s\S]*?<\/think>/gi, '')
    .replace(/^[\s\S]*?<\/think>/i, '')
    .replace(/<think>[\s\S]*$/i, '');
  const candidates: string[] = [];
  for (const m of text.matchAll(/```[a-zA-Z]*\s*([\s\S]*?)```/g)) candidates.push(m[1]!);
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start >= 0 && end > start) candidates.push(text.slice(start, end + 1));
  for (const c of candidates) {
    const v = objectOrUndefined(c);
    if (v) return v;
  }
  for (const c of balancedObjects(text)) {
    const v = objectOrUndefined(c);
    if (v) return v;
  }
  return undefined;
}

function objectOrUndefined(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text.trim());
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Every top-level `{…}` with balanced braces outside strings, in order. */
function* balancedObjects(text: string): Generator<string> {
  let depth = 0;
  let from = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"' && depth > 0) {
      inString = true;
    } else if (ch === '{') {
      if (depth++ === 0) from = i;
    } else if (ch === '}' && depth > 0 && --depth === 0) {
      yield text.slice(from, i + 1);
    }
  }
}
