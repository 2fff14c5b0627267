// The web playground at /, in a real browser (Debian's chromium through playwright-core)
// against a real server: key, quick agent, a streamed answer, the waterfall of stages,
// the memory updates of one session and the recall of them in the next.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer, type TestServer } from './harness.ts';

// Found the way .ci/run finds it (`command -v chromium`): any chromium on PATH.
const CHROMIUM = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim();
const noBrowser = CHROMIUM ? false : 'no browser: no chromium on PATH (apt-get install -y chromium; .ci/run does)';
const SCREENSHOT = 'test-results/playground.png';

describe('web playground', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer('pglite');
  });
  after(async () => {
    await s?.close();
  });

  test('/ and its assets are served without a key, hidden from the API doc, shadowing nothing', async () => {
    const page = await fetch(`${s.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'self'/);
    const html = await page.text();
    assert.match(html, /<script type="module" src="\/web\/app\.js">/);
    assert.doesNotMatch(html, /https?:\/\//, 'nothing is loaded from another origin');
    for (const [path, type] of [
      ['/web/app.js', /^text\/javascript/],
      ['/web/app.css', /^text\/css/],
      ['/web/icon.svg', /^image\/svg\+xml/],
    ] as const) {
      const res = await fetch(s.url + path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type')!, type, path);
    }
    assert.equal((await fetch(`${s.url}/web/nope.js`)).status, 404);
    assert.equal((await fetch(`${s.url}/web/../package.json`)).status, 404);
    assert.equal((await fetch(`${s.url}/health`)).status, 200);
    assert.equal((await fetch(`${s.url}/metrics`)).status, 200);
    assert.equal((await fetch(`${s.url}/api/v1/agents`)).status, 401, 'the API still wants a key');
    const doc = await (await fetch(`${s.url}/docs/json`)).json();
    assert.ok(!Object.keys(doc.paths).some((p) => p === '/' || p.startsWith('/web')), 'hidden from OpenAPI');
  });

  test('chat with a quick agent: streamed answer, waterfall, memory updates, then recall in a new session', { skip: noBrowser }, async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
      const problems: string[] = [];
      page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
      });

      await page.goto(`${s.url}/`);
      await page.fill('#key', s.adminKey);
      await page.click('#key-form button[type=submit]');
      await page.waitForSelector('#new-agent:not([disabled])');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('agentmem.key')), s.adminKey, 'the key is kept for this tab');
      assert.equal(await page.evaluate(() => localStorage.getItem('agentmem.key')), null, 'and never outlives it');

      await page.click('#new-agent');
      await page.waitForFunction(() => (document.getElementById('agent') as HTMLSelectElement).value !== '');
      const agentId = await page.inputValue('#agent');
      const agent = (await s.api('GET', `/api/v1/agents/${agentId}`)).body;
      assert.equal(agent.llm.provider, 'simulated');
      assert.equal(agent.streaming.emit_metadata, true);
      assert.ok(agent.llm.simulated.first_token_ms > 0, 'paced, so the answer visibly streams');

      await page.fill('#user', 'ada');
      await say(page, 'My name is Ada. I live in Berlin.', { streamed: true });
      const answer = await page.textContent('.msg.assistant >> nth=0 >> .text');
      assert.ok(answer && answer.length > 0, 'the answer streamed in');
      const sessionId = await page.textContent('#session');
      assert.match(sessionId!, /^[0-9a-f-]{36}$/, 'the session from `start` is shown');

      // Every stage the request ran has a bar; first byte and total are measured.
      for (const stage of ['auth', 'agent', 'history', 'recall', 'prompt', 'upstream_ttfb', 'first_byte', 'total', 'client_ttft']) {
        const bar = page.locator(`#waterfall [data-stage="${stage}"] .wf-bar`);
        assert.equal(await bar.count(), 1, `a bar for ${stage}`);
        const box = await bar.boundingBox();
        assert.ok(box && box.width >= 2 && box.height > 0, `${stage} bar is visible`);
      }
      assert.match((await page.textContent('#stat-ttft'))!, /^\d[\d.,]* ms$/, 'client-measured time to first token');
      // the prompt the model read, cached vs prefilled (the simulated model has no prompt cache)
      const cache = page.locator('#waterfall .wf-cache');
      assert.equal(await cache.getAttribute('data-cached'), '0');
      assert.ok(Number(await cache.getAttribute('data-uncached')) > 0);
      assert.match((await cache.textContent())!, /from the provider's prompt cache/);
      await page.waitForFunction(() => document.querySelectorAll('#updates li.mem').length >= 2);
      const updates = await page.locator('#updates li.mem').allTextContents();
      assert.ok(
        updates.some((u) => /ADD\s*I live in Berlin/.test(u)),
        updates.join(' | '),
      );
      assert.ok(
        updates.some((u) => /My name is Ada/.test(u)),
        updates.join(' | '),
      );

      // A second message in the same session continues it.
      await say(page, 'Thanks.');
      assert.equal(await page.textContent('#session'), sessionId, 'the session continues');

      await page.click('#new-session');
      assert.equal(await page.textContent('#session'), 'new');
      assert.equal(await page.locator('.msg').count(), 0, 'a new session starts an empty chat');
      await say(page, 'Where do I live?');
      assert.notEqual(await page.textContent('#session'), sessionId, 'a new session on the server');
      const recalled = await page.locator('#recalled li.mem').allTextContents();
      assert.ok(
        recalled.some((m) => m.includes('I live in Berlin')),
        recalled.join(' | '),
      );
      assert.match((await page.textContent('.msg.assistant >> nth=0 >> .text'))!, /Berlin/);

      mkdirSync('test-results', { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      assert.ok(statSync(SCREENSHOT).size > 10_000, 'the screenshot was written');
      assert.deepEqual(problems, [], 'no script errors or CSP violations in the page');
    } finally {
      await browser.close();
    }
  });
});

describe('web playground: working memory and summary', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer('pglite');
  });
  after(async () => {
    await s?.close();
  });

  test("shows the current user's working memory and the session's summary; the waterfall is as before", { skip: noBrowser }, async () => {
    const agent = (
      await s.api('POST', '/api/v1/agents', {
        body: {
          name: 'context',
          llm: { provider: 'simulated', simulated: { first_token_ms: 0, tokens_per_s: 0 } },
          memory: { extract: false, working: { enabled: true }, summary: { enabled: true, trigger_tokens: 200 } },
          streaming: { emit_metadata: true, emit_memory_updates: true },
        },
      })
    ).body;
    await s.api('PUT', `/api/v1/agents/${agent.id}/working-memory/ada`, { body: { content: 'Name: Ada\nLikes: tea' } });
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
      const problems: string[] = [];
      page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
      await page.goto(`${s.url}/`);
      await page.evaluate((id) => localStorage.setItem('agentmem.agent', id), agent.id);
      await page.fill('#key', s.adminKey);
      await page.click('#key-form button[type=submit]');
      await page.waitForFunction((id) => (document.getElementById('agent') as HTMLSelectElement).value === id, agent.id);
      await page.fill('#user', 'ada');
      await page.dispatchEvent('#user', 'change');
      await page.waitForFunction(() => document.querySelector('#working pre')?.textContent === 'Name: Ada\nLikes: tea');

      const long = 'We talked about the harbour, the boats, the bread and the weather for a long while. '.repeat(3);
      await say(page, `My name is Ada. ${long}`);
      for (let i = 0; i < 6 && !(await page.locator('#summary pre').count()); i++) await say(page, `More ${i}. ${long}`);
      await page.waitForSelector('#summary pre');
      assert.match((await page.textContent('#summary pre'))!, /The user said: My name is Ada\./);
      assert.match((await page.textContent('#summary .note'))!, /through message [0-9a-f-]{36}/);
      for (const stage of ['auth', 'agent', 'history', 'recall', 'prompt', 'upstream_ttfb', 'first_byte', 'total']) {
        assert.equal(await page.locator(`#waterfall [data-stage="${stage}"] .wf-bar`).count(), 1, `a bar for ${stage}`);
      }
      assert.equal(await page.locator('#waterfall [data-stage="summary"], #waterfall [data-stage="working"]').count(), 0, 'no new stage');
      mkdirSync('test-results', { recursive: true });
      await page.screenshot({ path: 'test-results/playground-context.png', fullPage: true });

      // Another user id: that user's (empty) block, never Ada's.
      await page.fill('#user', 'bob');
      await page.dispatchEvent('#user', 'change');
      await page.waitForFunction(() => /nothing written yet/.test(document.getElementById('working')!.textContent ?? ''));
      assert.doesNotMatch((await page.textContent('#working'))!, /Ada/);
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  });
});

describe("web playground with an end user's scoped key", () => {
  let s: TestServer;
  before(async () => {
    s = await startServer('pglite');
  });
  after(async () => {
    await s?.close();
  });

  test('lists only its agents, chats as its user, cannot create agents', { skip: noBrowser }, async () => {
    const llm = { provider: 'simulated', simulated: { first_token_ms: 50, tokens_per_s: 200 } };
    const mine = (await s.api('POST', '/api/v1/agents', { body: { name: 'mine', llm, streaming: { emit_metadata: true, emit_memory_updates: true } } })).body;
    await s.api('POST', '/api/v1/agents', { body: { name: 'not mine', llm } });
    const key = (await s.api('POST', '/api/v1/api-keys', { body: { name: 'web:ada', user_id: 'ada', agent_ids: [mine.id] } })).body.key;
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
      await page.goto(`${s.url}/`);
      await page.fill('#key', key);
      await page.click('#key-form button[type=submit]');
      await page.waitForFunction(() => (document.getElementById('agent') as HTMLSelectElement).value !== '');
      const options = await page.locator('#agent option').allTextContents();
      assert.equal(options.length, 1, options.join(' | '));
      assert.match(options[0]!, /^mine/);
      assert.equal(await page.inputValue('#user'), 'ada', "the key's user is shown");
      assert.equal(await page.locator('#user').getAttribute('readonly'), '', 'and cannot be changed');
      assert.equal(await page.locator('#new-agent').isDisabled(), true, 'no agent creation with a scoped key');
      await say(page, 'I live in Lisbon.');
      const sessionId = (await page.textContent('#session'))!;
      const session = (await s.api('GET', `/api/v1/sessions/${sessionId}`)).body;
      assert.equal(session.user_id, 'ada', "the turn ran as the key's user");
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  });
});

/** The chromium on PATH, headless, with nothing reaching out to the (closed) network. */
function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Sends a message and waits until its answer has finished streaming. */
async function say(page: Page, message: string, opts: { streamed?: boolean } = {}): Promise<void> {
  const before = await page.locator('.msg.assistant').count();
  await page.fill('#message', message);
  await page.press('#message', 'Enter');
  if (opts.streamed) {
    // Part of the answer is on screen while the rest is still coming.
    await page.waitForFunction((n) => {
      const a = document.querySelectorAll('.msg.assistant')[n];
      return a?.classList.contains('streaming') && (a.querySelector('.text')?.textContent ?? '').length > 0;
    }, before);
  }
  await page.waitForFunction((n) => {
    const answers = document.querySelectorAll('.msg.assistant');
    return answers.length > n && !answers[n]!.classList.contains('streaming');
  }, before);
  const error = await page.locator('.msg.assistant').nth(before).locator('.error').count();
  assert.equal(error, 0, (await page.locator('.msg.assistant').nth(before).textContent()) ?? '');
}
