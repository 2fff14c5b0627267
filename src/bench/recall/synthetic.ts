// A small labeled dataset generated from templates, English or Chinese, for tests and as
// a smoke run of `agentmem bench recall`. Each user has dated events (written in several
// date formats, asked about in another), facts asked about with other word forms than
// they were told in, and distractors that share the common words. Its figures say that
// the pieces work (stems, dates, CJK), not how well agentmem does on real conversations:
// see docs/memory.md for the public data set.
import type { Dataset, DatasetMemory, DatasetQuestion } from './dataset.ts';

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

interface Fact {
  told: string;
  asked: string;
}

const EN_FACTS: Array<(p: string) => Fact> = [
  (p) => ({ told: `I have been hiking in the ${p} mountains every weekend`, asked: `Where do I usually go for a hike?` }),
  (p) => ({ told: `My daughter studies marine biology at the university in ${p}`, asked: 'What is my daughter studying?' }),
  (p) => ({ told: `I adopted two kittens from the shelter near ${p}`, asked: 'Did I adopt any pets?' }),
  (p) => ({ told: `I am allergic to peanuts and cashews since I was a child in ${p}`, asked: 'Which nuts am I allergic to?' }),
  (p) => ({ told: `I started learning the cello with a teacher from ${p}`, asked: 'Which instrument am I learning?' }),
  (p) => ({ told: `My brother runs a small bakery in ${p}`, asked: 'What does my brother do for a living? bakery' }),
  (p) => ({ told: `I renovated the kitchen of my flat in ${p} last spring`, asked: 'When did I renovate my kitchen?' }),
  (p) => ({ told: `I volunteer at the ${p} food bank on Tuesdays`, asked: 'Where am I volunteering?' }),
];
const EN_EVENTS = [
  ['visited the Louvre with my sister', 'museum Louvre'],
  ['ran a half marathon along the river', 'marathon'],
  ['moved into a new apartment downtown', 'apartment move'],
  ["attended my cousin's wedding", 'wedding'],
  ['interviewed for a job at a bank', 'job interview'],
  ['bought a second-hand bicycle', 'bicycle'],
];
const EN_DISTRACTORS = [
  'I like talking with you about my day',
  'My friend says I should sleep more',
  'I usually drink coffee in the morning',
  'I think the weather has been nice lately',
  'My day was busy but fine',
  'I want to read more books this year',
  'I told my friend about the weekend',
  'I usually go to bed late on weekends',
  'My family is doing well',
  'I often listen to podcasts while I cook',
  'I had a long day at work',
  'I enjoy quiet evenings at home',
];
const PLACES = ['Tatra', 'Alps', 'Harz', 'Pyrenees', 'Rocky', 'Andes', 'Atlas', 'Carpathian'];
const CITIES = ['Lisbon', 'Porto', 'Kyoto', 'Bergen', 'Gdansk', 'Valencia', 'Tartu', 'Leeds'];

const ZH_FACTS: Array<(p: string) => Fact> = [
  (p) => ({ told: `我每个周末都去${p}爬山`, asked: '我周末一般去哪里爬山？' }),
  (p) => ({ told: `我女儿在${p}的大学学习海洋生物学`, asked: '我女儿学的是什么专业？' }),
  (p) => ({ told: `我从${p}的收容所领养了两只小猫`, asked: '我领养过宠物吗？' }),
  (p) => ({ told: `我从小在${p}长大，对花生过敏`, asked: '我对什么过敏？' }),
  (p) => ({ told: `我跟一位${p}来的老师学大提琴`, asked: '我在学什么乐器？' }),
  (p) => ({ told: `我哥哥在${p}开了一家小面包店`, asked: '我哥哥是做什么工作的？' }),
  (p) => ({ told: `去年春天我把${p}的房子厨房重新装修了`, asked: '我什么时候装修了厨房？' }),
  (p) => ({ told: `我每周二在${p}的食物银行做志愿者`, asked: '我在哪里做志愿者？' }),
];
const ZH_EVENTS = [
  ['和姐姐一起去参观了故宫博物院', '博物院'],
  ['沿着江边跑了半程马拉松', '马拉松'],
  ['搬进了市中心的新公寓', '公寓'],
  ['参加了表哥的婚礼', '婚礼'],
  ['去银行面试了一份工作', '面试'],
  ['买了一辆二手自行车', '自行车'],
];
const ZH_DISTRACTORS = [
  '我喜欢和你聊聊我的一天',
  '我朋友说我应该多睡觉',
  '我早上一般喝咖啡',
  '最近天气挺好的',
  '今天很忙但还不错',
  '我今年想多读几本书',
  '我跟朋友说了周末的事',
  '周末我一般睡得很晚',
  '我家里人都挺好的',
  '我做饭的时候常听播客',
  '今天上班很累',
  '我喜欢在家安静地过晚上',
];
const ZH_PLACES = ['黄山', '泰山', '华山', '峨眉山', '庐山', '武夷山', '衡山', '嵩山'];
const ZH_CITIES = ['杭州', '成都', '西安', '厦门', '青岛', '昆明', '苏州', '大连'];

const pad = (n: number) => String(n).padStart(2, '0');

/** A date written one of several ways (the question uses another). */
function dateText(lang: 'en' | 'zh', y: number, m: number, d: number, style: number): string {
  if (lang === 'zh') return style % 2 ? `${y}年${m}月${d}日` : `${y}-${pad(m)}-${pad(d)}`;
  switch (style % 4) {
    case 0:
      return `${y}-${pad(m)}-${pad(d)}`;
    case 1:
      return `${MONTHS[m - 1]} ${d}th, ${y}`;
    case 2:
      return `${d} ${MONTHS[m - 1]} ${y}`;
    default:
      return `${pad(d)}.${pad(m)}.${y}`;
  }
}

export function syntheticDataset(lang: 'en' | 'zh', opts: { users?: number; seed?: number } = {}): Dataset {
  const rand = rng(opts.seed ?? 42);
  const memories: DatasetMemory[] = [];
  const questions: DatasetQuestion[] = [];
  const users = opts.users ?? 6;
  for (let u = 0; u < users; u++) {
    const user = `${lang}-user-${u + 1}`;
    let n = 0;
    const add = (content: string) => {
      const id = `${user}:${++n}`;
      memories.push({ id, user, content });
      return id;
    };
    const facts = lang === 'en' ? EN_FACTS : ZH_FACTS;
    const places = lang === 'en' ? (u % 2 ? CITIES : PLACES) : u % 2 ? ZH_CITIES : ZH_PLACES;
    facts.forEach((f, i) => {
      const { told, asked } = f(places[(i + u) % places.length]!);
      questions.push({ user, question: asked, evidence: [add(told)] });
    });
    // dated events: one per month, asked by day (another format) or by month
    const events = lang === 'en' ? EN_EVENTS : ZH_EVENTS;
    events.forEach(([what], i) => {
      const y = 2022 + ((u + i) % 3);
      const m = 1 + ((u * 5 + i * 2) % 12);
      const d = 1 + Math.floor(rand() * 27);
      const style = Math.floor(rand() * 4);
      const told = lang === 'en' ? `On ${dateText('en', y, m, d, style)} I ${what}` : `${dateText('zh', y, m, d, style)}我${what}`;
      const id = add(told);
      const asked =
        i % 2
          ? lang === 'en'
            ? `What did I do in ${MONTHS[m - 1]} ${y}?`
            : `${y}年${m}月我做了什么？`
          : lang === 'en'
            ? `What happened on ${dateText('en', y, m, d, style + 1)}?`
            : `${dateText('zh', y, m, d, style + 1)}那天发生了什么？`;
      questions.push({ user, question: asked, evidence: [id] });
    });
    for (const text of lang === 'en' ? EN_DISTRACTORS : ZH_DISTRACTORS) add(text);
  }
  return { meta: { name: `synthetic-${lang}`, language: lang, source: 'src/bench/recall/synthetic.ts' }, memories, questions };
}
