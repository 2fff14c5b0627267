// JSON Merge Patch (RFC 7396): how PATCH /api/v1/agents/:id applies its body to the stored
// agent. Objects merge key by key, null removes a key, anything else (arrays included)
// replaces. The RFC's own pseudo-code, plus one JavaScript case: an undefined value (an
// optional key a schema left absent) is no change.

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `target` with `patch` applied; neither is changed. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [name, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (value === null) delete out[name];
    else out[name] = mergePatch(out[name], value);
  }
  return out;
}
