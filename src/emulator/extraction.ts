// `~extraction=<mode>`: how the "model" answers a memory-extraction request, so the
// server's parsing of real answers is tested over HTTP. An extraction request is one whose
// last user message is the JSON agentmem sends (`{existing: [{id, text}], conversation: […]}`);
// every other request of the same agent (the chat itself) is answered as usual.
//
//   well_formed   ADD each user message of the conversation; UPDATE the first existing memory
//                 ("<text> (updated)"); DELETE the last one when there are two or more. In a
//                 ```json fence with a sentence before it, as chatty models answer.
//   unknown_ids   ADD one fact, then UPDATE and DELETE ids the request never listed: only the
//                 ADD may be applied.
//   malformed     prose that names decisions but holds no JSON object.
//   partial       the well_formed answer cut off in the middle of its JSON.

export interface ExtractionRequest {
  existing: Array<{ id: string; text: string }>;
  conversation: Array<{ role: string; content: string }>;
}

/** The extraction input in a user message, or undefined when the message is something else. */
export function extractionRequest(userText: string): ExtractionRequest | undefined {
  if (!userText.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(userText) as Partial<ExtractionRequest>;
    if (!Array.isArray(v.conversation)) return undefined;
    const existing = Array.isArray(v.existing) ? v.existing.filter((m) => typeof m?.id === 'string' && typeof m?.text === 'string') : [];
    return { existing, conversation: v.conversation.filter((m) => typeof m?.content === 'string') };
  } catch {
    return undefined;
  }
}

/** Ids no extraction request lists: past the short ids agentmem uses, and a UUID-shaped one. */
export const UNKNOWN_IDS = ['999', '00000000-0000-4000-8000-000000000000'];

export function extractionAnswer(mode: string, req: ExtractionRequest): string | undefined {
  const adds = req.conversation.filter((m) => m.role === 'user').map((m) => ({ event: 'ADD', text: m.content }));
  switch (mode) {
    case 'well_formed': {
      const memory: object[] = [...adds];
      const [first, ...rest] = req.existing;
      if (first) memory.push({ event: 'UPDATE', id: first.id, text: `${first.text} (updated)` });
      if (rest.length) memory.push({ event: 'DELETE', id: rest.at(-1)!.id });
      return `Here is what I would keep:\n\`\`\`json\n${JSON.stringify({ memory })}\n\`\`\``;
    }
    case 'unknown_ids':
      return JSON.stringify({
        memory: [
          ...adds.slice(0, 1),
          { event: 'UPDATE', id: UNKNOWN_IDS[0], text: 'overwritten by an id nobody sent' },
          { event: 'DELETE', id: UNKNOWN_IDS[1] },
          { event: 'DELETE', id: UNKNOWN_IDS[0] },
        ],
      });
    case 'malformed':
      return `I would ADD that the user said "${adds[0]?.text ?? ''}" and DELETE nothing; memory: [ADD, NONE]`;
    case 'partial': {
      const whole = JSON.stringify({ memory: [...adds, { event: 'ADD', text: 'one more fact to cut in half' }] });
      return whole.slice(0, Math.floor(whole.length / 2));
    }
    default:
      return undefined;
  }
}
