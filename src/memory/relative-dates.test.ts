// Relative dates resolved from the time a message was said (relative-dates.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveRelativeDates } from './relative-dates.ts';

const wednesday = new Date('2024-05-08T21:30:00Z');

test('English: days, weekdays of this/next/last week, spans, months and years', () => {
  const cases: Array<[string, string]> = [
    ['I flew to Rome yesterday', 'I flew to Rome yesterday (2024-05-07)'],
    ['Dentist tomorrow, gym today', 'Dentist tomorrow (2024-05-09), gym today (2024-05-08)'],
    ['the day before yesterday I ran', 'the day before yesterday (2024-05-06) I ran'],
    ['interview next Friday', 'interview next Friday (2024-05-17)'],
    ['met her last Monday', 'met her last Monday (2024-04-29)'],
    ['party this Saturday', 'party this Saturday (2024-05-11)'],
    ['I leave in two days, came back 3 weeks ago', 'I leave in two days (2024-05-10), came back 3 weeks ago (2024-04-17)'],
    ['busy last week', 'busy last week (week of 2024-04-29)'],
    ['moving next month, married last year', 'moving next month (2024-06), married last year (2023)'],
    ['I see him on Friday', 'I see him on Friday'],
  ];
  for (const [said, kept] of cases) assert.equal(resolveRelativeDates(said, wednesday), kept);
});

test('Chinese: 昨天 明天 下周五 上周 下个月 去年 三天前', () => {
  assert.equal(resolveRelativeDates('我昨天去了北京，明天回来', wednesday), '我昨天 (2024-05-07)去了北京，明天 (2024-05-09)回来');
  assert.equal(resolveRelativeDates('下周五开会，上周很忙', wednesday), '下周五 (2024-05-17)开会，上周 (2024-04-29起的一周)很忙');
  assert.equal(resolveRelativeDates('下个月搬家，去年结婚，三天前生病', wednesday), '下个月 (2024-06)搬家，去年 (2023)结婚，三天前 (2024-05-05)生病');
});

test('a phrase resolved once is not resolved again; the UTC day of the message counts', () => {
  const once = resolveRelativeDates('I went yesterday', wednesday);
  assert.equal(resolveRelativeDates(once, new Date('2025-01-01T00:00:00Z')), once);
  assert.equal(resolveRelativeDates('tomorrow', new Date('2024-12-31T23:59:00Z')), 'tomorrow (2025-01-01)');
  assert.equal(resolveRelativeDates('tomorrow', new Date('invalid')), 'tomorrow');
});
