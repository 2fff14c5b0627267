// Relative dates in a fact, resolved from the time the message was said: "I flew to Rome
// yesterday" said on 2024-05-08 is kept as "I flew to Rome yesterday (2024-05-07)". The
// words stay (a question that says "yesterday" still matches them) and the absolute date
// follows in ISO form, which the lexical index reads as a date (lexical/dates.ts), so a
// question about "May 7" finds it months later. Days are UTC days of the message time.
// Weeks start on Monday: "next Friday" is the Friday of next week (as 下周五), "last
// Friday" that of last week, "this Friday" that of this week; a bare "Friday" is left alone.
// A phrase already followed by a date in parentheses is not resolved again.

const DAY_MS = 86_400_000;
const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const NUMBERS: Record<string, number> = { a: 1, an: 1, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10 };
const ZH_NUMBERS: Record<string, number> = { 一: 1, 两: 2, 二: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9, 十: 10 };
const ZH_WEEKDAYS: Record<string, number> = { 一: 0, 二: 1, 三: 2, 四: 3, 五: 4, 六: 5, 日: 6, 天: 6 };

const iso = (t: number) => new Date(t).toISOString().slice(0, 10);
const dayStart = (at: Date) => Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate());
/** Monday of the week `t` falls in. */
const monday = (t: number) => t - ((new Date(t).getUTCDay() + 6) % 7) * DAY_MS;
const month = (at: Date, delta: number) => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + delta, 1)).toISOString().slice(0, 7);
const count = (s: string) => (/^\d+$/.test(s) ? Number(s) : (NUMBERS[s.toLowerCase()] ?? ZH_NUMBERS[s] ?? NaN));

// Not when a date in parentheses already follows (ASCII or full-width).
const UNRESOLVED = '(?!\\s*[(（]\\d{4}-\\d{2})';
const NUM = '(\\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten)';
const WEEKDAY = `(${WEEKDAYS.join('|')})`;

type Rule = [RegExp, (m: string[], day: number, at: Date) => string | undefined];

const RULES: Rule[] = [
  [new RegExp(`\\bthe day before yesterday\\b${UNRESOLVED}`, 'giu'), (_, d) => iso(d - 2 * DAY_MS)],
  [new RegExp(`\\bthe day after tomorrow\\b${UNRESOLVED}`, 'giu'), (_, d) => iso(d + 2 * DAY_MS)],
  [new RegExp(`\\byesterday\\b${UNRESOLVED}`, 'giu'), (_, d) => iso(d - DAY_MS)],
  [new RegExp(`\\btomorrow\\b${UNRESOLVED}`, 'giu'), (_, d) => iso(d + DAY_MS)],
  [new RegExp(`\\b(?:today|tonight|this (?:morning|afternoon|evening))\\b${UNRESOLVED}`, 'giu'), (_, d) => iso(d)],
  [
    new RegExp(`\\bin ${NUM} (day|week)s?\\b${UNRESOLVED}`, 'giu'),
    (m, d) => {
      const n = count(m[1]!);
      return Number.isFinite(n) ? iso(d + n * (m[2]!.toLowerCase() === 'week' ? 7 : 1) * DAY_MS) : undefined;
    },
  ],
  [
    new RegExp(`\\b${NUM} (day|week)s? ago\\b${UNRESOLVED}`, 'giu'),
    (m, d) => {
      const n = count(m[1]!);
      return Number.isFinite(n) ? iso(d - n * (m[2]!.toLowerCase() === 'week' ? 7 : 1) * DAY_MS) : undefined;
    },
  ],
  [
    new RegExp(`\\b(next|last|this|coming) ${WEEKDAY}\\b${UNRESOLVED}`, 'giu'),
    (m, d) => {
      const shift = { next: 7, coming: 7, last: -7, this: 0 }[m[1]!.toLowerCase() as 'next'] ?? 0;
      return iso(monday(d) + shift * DAY_MS + WEEKDAYS.indexOf(m[2]!.toLowerCase()) * DAY_MS);
    },
  ],
  [
    new RegExp(`\\b(next|last|this) week\\b${UNRESOLVED}`, 'giu'),
    (m, d) => `week of ${iso(monday(d) + ({ next: 7, last: -7, this: 0 }[m[1]!.toLowerCase() as 'next'] ?? 0) * DAY_MS)}`,
  ],
  [new RegExp(`\\b(next|last|this) month\\b${UNRESOLVED}`, 'giu'), (m, _, at) => month(at, { next: 1, last: -1, this: 0 }[m[1]!.toLowerCase() as 'next'] ?? 0)],
  [
    new RegExp(`\\b(next|last|this) year\\b${UNRESOLVED}`, 'giu'),
    (m, _, at) => String(at.getUTCFullYear() + ({ next: 1, last: -1, this: 0 }[m[1]!.toLowerCase() as 'next'] ?? 0)),
  ],
  // Chinese: 前天 昨天 今天 明天 后天, 上周五 下周五 这周五 本周五 (星期/礼拜 too), 上周 下周, 上个月 下个月, 去年 明年, 三天前 三天后
  [
    new RegExp(`(大前天|前天|昨天|今天|明天|后天|大后天)${UNRESOLVED}`, 'gu'),
    (m, d) => iso(d + { 大前天: -3, 前天: -2, 昨天: -1, 今天: 0, 明天: 1, 后天: 2, 大后天: 3 }[m[1]!]! * DAY_MS),
  ],
  [
    new RegExp(`(上|下|这|本)(?:个)?(?:周|星期|礼拜)([一二三四五六日天])${UNRESOLVED}`, 'gu'),
    (m, d) => iso(monday(d) + ({ 上: -7, 下: 7 }[m[1]!] ?? 0) * DAY_MS + ZH_WEEKDAYS[m[2]!]! * DAY_MS),
  ],
  [
    new RegExp(`(上|下)(?:个)?(?:周|星期|礼拜)(?![一二三四五六日天])${UNRESOLVED}`, 'gu'),
    (m, d) => `${iso(monday(d) + (m[1] === '上' ? -7 : 7) * DAY_MS)}起的一周`,
  ],
  [new RegExp(`(上|下)个月${UNRESOLVED}`, 'gu'), (m, _, at) => month(at, m[1] === '上' ? -1 : 1)],
  [new RegExp(`(去年|明年|今年)${UNRESOLVED}`, 'gu'), (m, _, at) => String(at.getUTCFullYear() + { 去年: -1, 明年: 1, 今年: 0 }[m[1]!]!)],
  [
    new RegExp(`(\\d{1,3}|[一两二三四五六七八九十])(天|周|个星期)(前|后|以前|以后)${UNRESOLVED}`, 'gu'),
    (m, d) => {
      const n = count(m[1]!) * (m[2] === '天' ? 1 : 7);
      return Number.isFinite(n) ? iso(d + (m[3]!.endsWith('前') ? -n : n) * DAY_MS) : undefined;
    },
  ],
];

/** `text` with each relative date followed by its absolute date, as of `at` (when it was said). */
export function resolveRelativeDates(text: string, at: Date): string {
  if (Number.isNaN(at.getTime())) return text;
  const day = dayStart(at);
  let out = text;
  for (const [re, resolve] of RULES) {
    out = out.replace(re, (...args) => {
      const whole = args[0] as string;
      const absolute = resolve(args.slice(0, -2) as string[], day, at);
      return absolute ? `${whole} (${absolute})` : whole;
    });
  }
  return out;
}
