// What the benchmark sends: the chat message, the answer the emulator streams, the
// user's seeded memories, and the emulator option path that paces the answer.
import { buildPrompt } from '../agent/prompt.ts';
import type { ChatMessage } from '../llm/types.ts';

/** The usual streaming template: 64 deltas of 16 bytes. The emulator cuts words at 12
 *  characters with their trailing spaces, so "12 letters + 4 spaces" is one token. */
export const DELTAS = 64;
export const DELTA_BYTES = 16;
export const TEMPLATE_TEXT = Array.from({ length: DELTAS }, (_, i) => word(i) + '    ').join('');
/**
 * The template's deltas a stream did not deliver, by the text it carried (a frame that carries
 * two deltas' text lost none).
 */
export const deltasLost = (bytes: number, deltas = DELTAS) => Math.ceil(Math.max(0, deltas * DELTA_BYTES - bytes) / DELTA_BYTES);
/** tokens_per_s for one delta every 20 ms */
export const TEMPLATE_RATE = 50;
export const TEMPLATE_INTERVAL_MS = 1000 / TEMPLATE_RATE;

function word(i: number): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  let s = '';
  for (let k = 0; k < 12; k++) s += letters[(i * 7 + k * 3) % 26];
  return s;
}

export const CHAT_MESSAGE = 'What do I usually order at the cafe near the office in Berlin, and who do I go there with?';
export const SYSTEM_PROMPT = 'You are a helpful assistant with a long memory. Answer briefly.';
/** The bench user's working memory (`--working-memory`): a profile of the size a real one has. */
export const WORKING_MEMORY = [
  '# Profile',
  '- Name: Sam; lives in Berlin (Kreuzberg) since 2021, works as a product designer near Alexanderplatz.',
  '- Languages: German, English; learning Portuguese.',
  '# Preferences',
  '- Coffee: flat white with oat milk; no sugar. Tea in the evening.',
  '- Food: vegetarian on weekdays; loves ramen and falafel.',
  '# Ongoing',
  '- Planning a trip to Lisbon in May with Anna; looking for a quiet flat near Alfama.',
  '- Training for a 10 km run in September (three runs a week).',
].join('\n');

const PEOPLE = ['Anna', 'Bilal', 'Chen', 'Dora', 'Emil', 'Farah', 'Goran', 'Hana', 'Ivo', 'Jules', 'Kofi', 'Lena'];
const PLACES = ['Berlin', 'Paris', 'Lisbon', 'Osaka', 'Toronto', 'Nairobi', 'Oslo', 'Lima', 'Seoul', 'Prague', 'Austin', 'Milan'];
const THINGS = ['flat white', 'green tea', 'croissant', 'ramen', 'falafel', 'oat latte', 'cheesecake', 'espresso', 'pho', 'bagel', 'lemonade', 'tacos'];
const SPOTS = ['the cafe near the office', 'the market', 'a bakery downtown', 'the station kiosk', 'a noodle bar', 'the rooftop bar', 'the gym', 'the library'];
const VERBS = ['usually orders', 'likes', 'once tried', 'avoids', 'recommends', 'shares'];

const TOPICS = [
  'volcanoes',
  'tax forms',
  'chess openings',
  'bicycle gears',
  'sourdough starters',
  'jazz chords',
  'tide tables',
  'moss gardens',
  'rocket nozzles',
  'knitting patterns',
  'glacier melt',
  'bird migration',
];
const ASKS = ['Explain briefly how', 'Give me three facts about', 'What is the history of', 'Summarize the basics of', 'Compare two kinds of'];

/** The i-th "topic shift" message (`--vary`): unique, and far from the seeded memories and the
 *  previous exchange, so the predictive pool is not confident and the fresh search runs. */
export function variedMessage(i: number): string {
  return `${ASKS[i % ASKS.length]} ${TOPICS[(i * 7) % TOPICS.length]}, case ${i}?`;
}

/** The i-th seeded memory about the user: varied, with words the chat message shares. */
export function memoryText(i: number): string {
  const p = PEOPLE[i % PEOPLE.length]!;
  const place = PLACES[(i >> 2) % PLACES.length]!;
  const thing = THINGS[(i * 5) % THINGS.length]!;
  const spot = SPOTS[(i * 3) % SPOTS.length]!;
  const verb = VERBS[(i * 7) % VERBS.length]!;
  return `The user ${verb} a ${thing} at ${spot} in ${place}, often with ${p} (note ${i}).`;
}

/** The direct request's messages: the shape agentmem sends upstream with a full window
 *  (5 earlier turns) and 5 recalled memories, so both sides ask the same of the model. */
export function directMessages(windowTurns = 5, recalled = 5, working?: string): ChatMessage[] {
  const history: ChatMessage[] = [];
  for (let i = 0; i < windowTurns; i++) {
    history.push({ role: 'user', content: CHAT_MESSAGE }, { role: 'assistant', content: TEMPLATE_TEXT });
  }
  const memories = Array.from({ length: recalled }, (_, i) => ({ id: String(i), content: memoryText(i), score: 0.5 }));
  return buildPrompt(SYSTEM_PROMPT, history, memories, CHAT_MESSAGE, { working });
}
