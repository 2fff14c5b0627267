// Dates in a text → shared tokens, so a question and a memory that name the same day or
// month match whatever way each wrote it ("2023-05-07", "7 May 2023", "May 7th, 2023",
// "07.05.2023", "2023年5月7日", "5月7日"). A full date gives its day, month and month-of-year
// tokens and the year as a plain number; "May 2023" gives the month; "May 7" the
// month-of-year. Tokens start with '#', which no word token can, so they never collide.

const MONTHS: Record<string, number> = {
  jan: 1,
  january: 1,
  feb: 2,
  february: 2,
  mar: 3,
  march: 3,
  apr: 4,
  april: 4,
  may: 5,
  jun: 6,
  june: 6,
  jul: 7,
  july: 7,
  aug: 8,
  august: 8,
  sep: 9,
  sept: 9,
  september: 9,
  oct: 10,
  october: 10,
  nov: 11,
  november: 11,
  dec: 12,
  december: 12,
};
const MONTH = '(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\\.?';
const DAY = '([0-3]?\\d)(?:st|nd|rd|th)?';
const YEAR = '((?:19|20)\\d\\d)';

// One alternation, longest forms first; the groups of each form are read in `toDate`.
const PATTERNS: Array<[RegExp, (m: RegExpExecArray) => Parts | undefined]> = [
  [new RegExp(`\\b${YEAR}[-/.](\\d{1,2})[-/.](\\d{1,2})\\b`, 'giu'), (m) => ({ y: +m[1]!, m: +m[2]!, d: +m[3]! })],
  // day.month.year (European); month/day/year (US)
  [new RegExp(`\\b(\\d{1,2})\\.(\\d{1,2})\\.${YEAR}\\b`, 'giu'), (m) => ({ y: +m[3]!, m: +m[2]!, d: +m[1]! })],
  [new RegExp(`\\b(\\d{1,2})/(\\d{1,2})/${YEAR}\\b`, 'giu'), (m) => ({ y: +m[3]!, m: +m[1]!, d: +m[2]! })],
  [new RegExp(`\\b${MONTH}\\s+${DAY}(?:,?\\s+${YEAR})?\\b`, 'giu'), (m) => ({ y: m[3] ? +m[3] : undefined, m: MONTHS[m[1]!.toLowerCase()]!, d: +m[2]! })],
  [
    new RegExp(`\\b${DAY}\\s+(?:of\\s+)?${MONTH}(?:,?\\s+${YEAR})?\\b`, 'giu'),
    (m) => ({ y: m[3] ? +m[3] : undefined, m: MONTHS[m[2]!.toLowerCase()]!, d: +m[1]! }),
  ],
  [new RegExp(`\\b${MONTH}(?:\\s+of)?,?\\s+${YEAR}\\b`, 'giu'), (m) => ({ y: +m[2]!, m: MONTHS[m[1]!.toLowerCase()]! })],
  [new RegExp(`${YEAR}\\s*年\\s*(\\d{1,2})\\s*月(?:\\s*(\\d{1,2})\\s*[日号])?`, 'gu'), (m) => ({ y: +m[1]!, m: +m[2]!, d: m[3] ? +m[3] : undefined })],
  [/(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]/gu, (m) => ({ m: +m[1]!, d: +m[2]! })],
];

interface Parts {
  y?: number;
  m: number;
  d?: number;
}

const pad = (n: number) => String(n).padStart(2, '0');

function tokensOf({ y, m, d }: Parts): string[] | undefined {
  if (!(m >= 1 && m <= 12) || (d !== undefined && !(d >= 1 && d <= 31))) return undefined;
  const out: string[] = [];
  if (y !== undefined) out.push(String(y), `#m${y}-${pad(m)}`);
  if (d !== undefined) {
    out.push(`#md${pad(m)}-${pad(d)}`);
    if (y !== undefined) out.push(`#d${y}-${pad(m)}-${pad(d)}`);
  }
  return out;
}

/**
 * The date tokens of `text`, and the text with each date replaced by a space (so its digits
 * and month name are not indexed a second time as words).
 */
export function extractDates(text: string): { tokens: string[]; rest: string } {
  const tokens: string[] = [];
  let rest = text;
  for (const [re, parts] of PATTERNS) {
    re.lastIndex = 0;
    rest = rest.replace(re, (...args) => {
      const m = args.slice(0, -2) as unknown as RegExpExecArray;
      const found = parts(m);
      const t = found && tokensOf(found);
      if (!t) return args[0] as string;
      tokens.push(...t);
      return ' ';
    });
  }
  return { tokens, rest };
}

/** The tokens of a point in time (an imported message's timestamp): its day, month and year. */
export function dateTokens(at: Date): string[] {
  return tokensOf({ y: at.getUTCFullYear(), m: at.getUTCMonth() + 1, d: at.getUTCDate() }) ?? [];
}
