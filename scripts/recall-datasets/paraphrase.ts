// Writes the paraphrase sets (test/fixtures/recall/paraphrase-en, paraphrase-zh): each fact is
// asked about in other words, sharing no content word with it (English: no term in common
// after agentmem's own analysis — stems, stopwords; Chinese: no character in common but 我/的/在
// and the like). Each fact is one user's, beside 10 unrelated facts of that user, so a search
// must pick it out of 11. What a lexical search cannot find and a sentence model can.
//   node --import tsx scripts/recall-datasets/paraphrase.ts [out dir = test/fixtures/recall]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyze } from '../../src/memory/lexical/tokens.ts';

const EN: Array<[fact: string, question: string]> = [
  ['I love sushi', 'What food do I like?'],
  ['I am allergic to peanuts', 'Which nuts make me sick?'],
  ['My wife works as a dentist', 'What does my spouse do for a living?'],
  ['I drive a Tesla Model 3', 'What car do I own?'],
  ['I was born in Lisbon', 'Where is my hometown?'],
  ['I play the violin in an orchestra', 'Which musical instrument can I perform on?'],
  ['My dog is called Biscuit', "What's the name of my pet?"],
  ['I am vegetarian', 'Do I eat meat?'],
  ['I jog five kilometres every morning', 'How do I keep fit?'],
  ['My daughter starts university in September', 'When does my kid begin college?'],
  ['I am afraid of spiders', 'Which creatures scare me?'],
  ['I work as a software engineer at a bank', 'What is my job?'],
  ['I moved to Canada last year', 'Which country do I live in now?'],
  ['My favourite author is Haruki Murakami', "Which writer's novels do I enjoy?"],
  ["I can't stand cold weather", 'How do I feel about winter?'],
  ['I am learning Japanese', 'Which language am I studying?'],
  ['My brother lives in Sydney', 'In which city is my sibling based?'],
  ['I drink green tea every afternoon', 'What beverage do I have daily?'],
  ['I broke my leg skiing in February', 'Have I had any injuries?'],
  ['I am saving money to buy a house', 'What am I putting cash aside for?'],
  ['I have two cats', 'Do I own any animals?'],
  ['My mother is a retired pilot', 'What was my mum’s career?'],
];
const EN_OTHERS = [
  'I usually take the bus to the office',
  'My neighbour plays loud music at night',
  'I repainted the kitchen walls yellow',
  'I prefer reading paper books over e-books',
  'My grandmother turns ninety next spring',
  'I volunteer at the library on Saturdays',
  'I have a meeting with my accountant on Tuesday',
  'My laptop battery barely lasts two hours',
  'I keep a small herb garden on the balcony',
  'My phone screen cracked last week',
  'I collect old postage stamps',
  'I am terrible at remembering birthdays',
  'The heating in my flat is broken',
  'I sing in the shower',
];

const ZH: Array<[fact: string, question: string]> = [
  ['我特别爱寿司', '我喜欢哪种食物？'],
  ['我对花生过敏', '哪些坚果会让我不舒服？'],
  ['我妻子是一名牙医', '我太太做什么工作？'],
  ['我开特斯拉', '我有什么车？'],
  ['我出生在里斯本', '我的老家是哪座城市？'],
  ['我在交响团拉小提琴', '我会演奏什么乐器？'],
  ['我的狗叫饼干', '我家宠物的名字是什么？'],
  ['我是素食者', '我吃肉吗？'],
  ['我每天早上跑五公里', '我平时怎么锻炼身体？'],
  ['我害怕蜘蛛', '哪些动物让我恐惧？'],
  ['我在银行当程序员', '我的职业是什么？'],
  ['我去年搬到了加拿大', '我现在住在哪个国家？'],
  ['我弟弟住在悉尼', '我的兄妹在哪座城市生活？'],
  ['我每天下午喝绿茶', '我平常饮用什么饮品？'],
  ['我正在学日语', '我在进修哪一种外文？'],
  ['我养了两只猫', '我家有没有动物？'],
];
const ZH_OTHERS = [
  '我通常坐公交车上班',
  '我的邻居晚上放很吵的音乐',
  '我把厨房的墙刷成了黄色',
  '我更喜欢读纸质书',
  '我奶奶明年春天九十岁',
  '我周六在图书馆做志愿者',
  '我的笔记本电脑电池只能用两个小时',
  '我在阳台上种了一些香草',
  '我收集旧邮票',
  '我总是记不住别人的生日',
  '我家的暖气坏了',
  '我喜欢在洗澡时唱歌',
];
/** characters a Chinese fact and its question may share: no content */
const ZH_FUNCTION = new Set([...'我的在是了吗什么哪有']);

/** The content words a fact and its question share (none, for this set). */
export function shared(lang: 'en' | 'zh', a: string, b: string): string[] {
  if (lang === 'en') {
    const words = new Set(analyze(a));
    return [...new Set(analyze(b))].filter((w) => words.has(w));
  }
  const chars = new Set([...a].filter((c) => /\p{Script=Han}/u.test(c) && !ZH_FUNCTION.has(c)));
  return [...new Set(b)].filter((c) => chars.has(c));
}

function write(out: string, lang: 'en' | 'zh', pairs: Array<[string, string]>, others: string[]) {
  const memories: object[] = [];
  const questions: object[] = [];
  pairs.forEach(([fact, question], i) => {
    const bad = shared(lang, fact, question);
    if (bad.length) throw new Error(`"${fact}" / "${question}" share ${bad.join(', ')}`);
    const user = `${lang}-p${i + 1}`;
    // the fact among 10 of the others, its position and its neighbours varying by user
    const mine = Array.from({ length: 10 }, (_, j) => others[(i + j) % others.length]!);
    mine.splice(i % 11, 0, fact);
    mine.forEach((content, j) => memories.push({ id: `${user}:${j + 1}`, user, content }));
    questions.push({ user, question, evidence: [`${user}:${(i % 11) + 1}`] });
  });
  const dir = join(out, `paraphrase-${lang}`);
  mkdirSync(dir, { recursive: true });
  const meta = { name: `paraphrase-${lang}`, language: lang, source: 'scripts/recall-datasets/paraphrase.ts' };
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
  writeFileSync(join(dir, 'memories.jsonl'), memories.map((m) => JSON.stringify(m)).join('\n') + '\n');
  writeFileSync(join(dir, 'questions.jsonl'), questions.map((q) => JSON.stringify(q)).join('\n') + '\n');
  console.log(`${dir}: ${memories.length} memories, ${questions.length} questions`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2] ?? 'test/fixtures/recall';
  write(out, 'en', EN, EN_OTHERS);
  write(out, 'zh', ZH, ZH_OTHERS);
}
