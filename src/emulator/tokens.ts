// Splits an answer into "model tokens" for streaming: word-sized runs with their
// trailing spaces, CJK in 1–2 character pieces, each emoji (ZWJ sequences, flags, skin
// tones) whole. Concatenating the tokens gives back the text exactly.

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303f\uff00-\uffef]/u;
const EMOJI = /\p{Extended_Pictographic}|\p{Regional_Indicator}/u;
const SPACE = /^\s+$/u;
const MAX_WORD = 12;

type Kind = 'word' | 'cjk' | 'emoji';

export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let cur = '';
  let kind: Kind | undefined;
  let count = 0;
  let trailing = false;
  for (const { segment: g } of graphemes.segment(text)) {
    if (SPACE.test(g)) {
      cur += g;
      trailing = kind !== undefined; // leading spaces stay at the front of the next token
      continue;
    }
    const k: Kind = EMOJI.test(g) ? 'emoji' : CJK.test(g) ? 'cjk' : 'word';
    const joins = kind === undefined || (!trailing && k === kind && ((k === 'word' && count < MAX_WORD) || (k === 'cjk' && count < 2)));
    if (!joins) {
      tokens.push(cur);
      cur = '';
      count = 0;
    }
    cur += g;
    kind = k;
    count++;
    trailing = false;
  }
  if (cur) tokens.push(cur);
  return tokens;
}

/** A message's text, whether `content` is a string or an array of parts. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p) => (typeof p === 'string' ? p : typeof p?.text === 'string' ? p.text : '')).join('');
  }
  return '';
}
