// agentmem playground: pick an agent, chat over the native SSE endpoint, and watch
// where each request's time went (the `metadata`/`done` timings), what memory was
// recalled into the prompt and what the turn changed. Plain browser JS, no build step.

const STAGES = ['auth', 'agent', 'history', 'recall', 'recall_embed', 'recall_search', 'connect', 'prompt', 'upstream_ttfb', 'first_byte', 'total'];
const STAGE_INFO = {
  auth: ['auth', 'API key → principal (cached)'],
  agent: ['agent', 'agent lookup (cached, invalidated on change)'],
  history: ['history', 'session and its last messages'],
  recall: ['recall', 'semantic recall of memories, within the agent’s budget'],
  recall_embed: ['embed', 'embed the message'],
  recall_search: ['search', 'hybrid search of the memories'],
  connect: ['connect', 'upstream connection made ready (in parallel with recall)'],
  prompt: ['prompt', 'build the prompt'],
  upstream_ttfb: ['upstream ttfb', 'the model’s time to its first token'],
  first_byte: ['first byte', 'request start → first byte to the client'],
  total: ['total', 'request start → the answer’s end'],
};
const SUB_STAGES = new Set(['recall_embed', 'recall_search']);
const SUMMARY_STAGES = new Set(['first_byte', 'total']);

const $ = (id) => document.getElementById(id);
const kept = (storage) => ({
  get: (k) => storage.getItem(`agentmem.${k}`) ?? '',
  set: (k, v) => (v ? storage.setItem(`agentmem.${k}`, v) : storage.removeItem(`agentmem.${k}`)),
});
// Preferences outlive the tab; the API key does not (it lives only as long as this tab).
const store = kept(localStorage);
const keyStore = kept(sessionStorage);

const state = {
  key: keyStore.get('key'),
  me: null, // what the key may do (GET /api/v1/me)
  agents: new Map(),
  agentId: store.get('agent'),
  sessionId: null,
  turns: [],
  shown: null,
  running: null, // AbortController of the turn being streamed
};

/** Builds an element; children are nodes or text (never parsed as HTML). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

function fmtMs(ms) {
  if (ms === undefined || ms === null) return '—';
  if (ms < 10) return ms.toFixed(2);
  if (ms < 1000) return ms.toFixed(1);
  return Math.round(ms).toLocaleString('en');
}

function setStatus(text, kind = '') {
  $('status').textContent = text;
  $('status').className = `status ${kind}`;
}

// ---------- API ----------

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${state.key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const data = text ? safeJson(text) : undefined;
  if (!res.ok) throw new Error(data?.error?.message ?? `${res.status} ${res.statusText}`);
  return data;
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The `id:`/`data:` frames of an SSE body, as they arrive. */
async function* readSse(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const boundary = /\r?\n\r?\n/;
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    for (let m = boundary.exec(buf); m; m = boundary.exec(buf)) {
      const block = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      let id;
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (!line || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') data.push(value);
        else if (field === 'id') id = value;
      }
      if (data.length) yield { id, data: data.join('\n') };
    }
  }
}

// ---------- agents, key, session ----------

async function connect() {
  if (!state.key) {
    setStatus('Paste an API key (the admin key printed at first start works).');
    return;
  }
  setStatus('Loading agents…');
  try {
    state.me = await api('GET', '/api/v1/me');
    // An end user's (scoped) key chats as its own user: the field shows it and cannot change it.
    const scopedUser = state.me.user_id;
    $('user').readOnly = Boolean(scopedUser);
    if (scopedUser) $('user').value = scopedUser;
    const list = await api('GET', '/api/v1/agents?limit=200');
    state.agents = new Map(list.data.map((a) => [a.id, a]));
    renderAgents();
    $('new-agent').disabled = state.me.role !== 'admin';
    setStatus(list.data.length ? `${list.data.length} agent${list.data.length === 1 ? '' : 's'}.` : 'No agents yet: create a quick one.', 'ok');
  } catch (err) {
    state.me = null;
    state.agents = new Map();
    renderAgents();
    $('new-agent').disabled = true;
    setStatus(`Could not list agents: ${err.message}`, 'bad');
  }
}

function renderAgents() {
  const select = $('agent');
  select.replaceChildren();
  if (!state.agents.size) {
    select.append(h('option', { value: '' }, state.key ? '— no agents —' : '— connect first —'));
    select.disabled = true;
  } else {
    for (const a of state.agents.values()) {
      select.append(h('option', { value: a.id }, `${a.name} · ${a.llm?.provider ?? ''}/${a.llm?.model ?? ''} · ${a.id.slice(0, 8)}`));
    }
    select.disabled = false;
    if (!state.agents.has(state.agentId)) state.agentId = state.agents.keys().next().value;
    select.value = state.agentId;
  }
  store.set('agent', state.agentId);
  updateSend();
  renderPanels();
  renderContext();
}

async function createQuickAgent() {
  $('new-agent').disabled = true;
  if (state.me?.role !== 'admin') return setStatus('Creating agents needs an admin key.', 'bad');
  try {
    const agent = await api('POST', '/api/v1/agents', {
      name: 'playground',
      description: 'Created by the web playground: the offline simulated model, paced like a fast hosted one.',
      system_prompt: 'Be brief.',
      // Paced so the answer visibly streams and the waterfall has an upstream to show.
      llm: { provider: 'simulated', simulated: { first_token_ms: 250, tokens_per_s: 40 } },
      streaming: { emit_metadata: true, emit_memory_updates: true },
      memory: { working: { enabled: true, template: '## About the user\n' }, summary: { enabled: true, trigger_tokens: 1000 } },
    });
    state.agents.set(agent.id, agent);
    state.agentId = agent.id;
    renderAgents();
    newSession();
    setStatus(`Created agent ${agent.id.slice(0, 8)}: simulated model (250 ms to first token, 40 tokens/s), metadata and memory updates on.`, 'ok');
  } catch (err) {
    setStatus(`Could not create an agent: ${err.message}`, 'bad');
  } finally {
    $('new-agent').disabled = state.me?.role !== 'admin';
  }
}

/** Turns on the events the panels are drawn from, for an agent created without them. */
async function enablePanels() {
  const agent = state.agents.get(state.agentId);
  if (!agent) return;
  try {
    const updated = await api('PATCH', `/api/v1/agents/${agent.id}`, { streaming: { ...agent.streaming, emit_metadata: true, emit_memory_updates: true } });
    state.agents.set(updated.id, updated);
    setStatus('Turned on streaming.emit_metadata and emit_memory_updates for this agent.', 'ok');
    renderPanels();
  } catch (err) {
    setStatus(`Could not update the agent: ${err.message}`, 'bad');
  }
}

function newSession() {
  state.running?.abort();
  state.sessionId = null;
  state.turns = [];
  state.shown = null;
  $('messages').replaceChildren();
  renderSession();
  renderPanels();
  renderContext();
}

function renderSession() {
  $('session').textContent = state.sessionId ?? 'new';
  $('session').className = state.sessionId ? '' : 'muted';
}

function updateSend() {
  const send = $('send');
  send.classList.toggle('stop', Boolean(state.running));
  if (state.running) {
    send.textContent = 'Stop';
    send.disabled = false;
  } else {
    send.textContent = 'Send';
    send.disabled = !state.key || !state.agents.has(state.agentId);
  }
}

// ---------- a turn ----------

async function sendMessage(message) {
  const agentId = state.agentId;
  const userId = $('user').value.trim();
  const turn = {
    n: state.turns.length + 1,
    agentId,
    userId,
    started: performance.now(),
    ttft: null,
    timings: null,
    recalled: null,
    updates: [],
    usage: null,
    model: null,
    finish: null,
    error: null,
    done: false,
  };
  state.turns.push(turn);

  $('messages').append(h('li', { class: 'msg user' }, h('div', { class: 'bubble' }, message)));
  const text = h('span', { class: 'text' });
  const meta = h('div', { class: 'meta' }, 'waiting…');
  const bubble = h('div', { class: 'bubble', title: 'Show this turn in the panels' }, text, h('span', { class: 'cursor' }), meta);
  const item = h('li', { class: 'msg assistant streaming', 'data-turn': turn.n }, bubble);
  bubble.addEventListener('click', () => showTurn(turn));
  turn.item = item;
  $('messages').append(item);
  showTurn(turn);
  scrollChat();

  const abort = new AbortController();
  state.running = abort;
  updateSend();
  try {
    const res = await fetch(`/api/v1/agents/${agentId}/chat/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${state.key}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ message, ...(userId ? { user_id: userId } : {}), ...(state.sessionId ? { session_id: state.sessionId } : {}) }),
      signal: abort.signal,
    });
    if (!res.ok || !res.body) {
      const body = safeJson(await res.text());
      throw new Error(body?.error?.message ?? `${res.status} ${res.statusText}`);
    }
    for await (const frame of readSse(res.body)) {
      const ev = safeJson(frame.data);
      if (ev) onEvent(turn, ev, text, bubble);
    }
  } catch (err) {
    if (abort.signal.aborted) turn.error = { code: 'aborted', message: 'Stopped.' };
    else turn.error = { code: 'client_error', message: err.message };
  } finally {
    turn.done = true;
    state.running = null;
    updateSend();
    item.classList.remove('streaming');
    if (turn.error) bubble.append(h('div', { class: 'error' }, `${turn.error.code}: ${turn.error.message}`));
    meta.replaceChildren(...turnSummary(turn));
    if (state.shown === turn) renderPanels();
    scrollChat();
    renderContext();
  }
}

function onEvent(turn, ev, text, bubble) {
  switch (ev.chunk_type) {
    case 'start':
      state.sessionId = ev.session_id;
      renderSession();
      return;
    case 'content':
      if (turn.ttft === null) {
        turn.ttft = performance.now() - turn.started;
        if (state.shown === turn) renderPanels();
      }
      text.append(ev.content);
      scrollChat();
      return;
    case 'reasoning': {
      // A thinking model's reasoning: shown apart, before the answer.
      let thought = bubble.querySelector('.reasoning');
      if (!thought) {
        thought = h('div', { class: 'reasoning' });
        bubble.insertBefore(thought, bubble.firstChild);
      }
      thought.append(ev.content);
      scrollChat();
      return;
    }
    case 'tool_call':
      bubble.insertBefore(h('div', { class: 'tool' }, `⚙ ${ev.name}(${ev.arguments})`), bubble.querySelector('.cursor'));
      return;
    case 'tool_result':
      bubble.insertBefore(h('div', { class: 'tool' }, `↳ ${ev.name}: ${ev.error ?? ev.output ?? ''} · ${fmtMs(ev.duration_ms)} ms`), bubble.querySelector('.cursor'));
      return;
    case 'memory_update':
      turn.updates.push(ev);
      if (ev.event === 'WORKING') renderContext();
      break;
    case 'metadata':
      turn.timings = ev.timings;
      turn.recalled = ev.recalled;
      turn.model = ev.model;
      break;
    case 'done':
      turn.timings = ev.timings;
      turn.usage = ev.usage;
      turn.model = ev.model;
      turn.finish = ev.finish_reason;
      break;
    case 'error':
      turn.error = { code: ev.code, message: ev.message };
      break;
    default:
      return;
  }
  if (state.shown === turn) renderPanels();
}

function turnSummary(turn) {
  const parts = [];
  if (turn.ttft !== null) parts.push(h('span', { class: 'num' }, `${fmtMs(turn.ttft)} ms`), ' to first token');
  if (turn.timings?.total !== undefined) parts.push(' · ', h('span', { class: 'num' }, `${fmtMs(turn.timings.total)} ms`), ' server total');
  if (turn.finish) parts.push(` · ${turn.finish}`);
  return parts;
}

function showTurn(turn) {
  state.shown = turn;
  for (const li of $('messages').querySelectorAll('.msg.assistant')) li.classList.toggle('selected', li.dataset.turn === String(turn.n));
  renderPanels();
}

function scrollChat() {
  const list = $('messages');
  list.scrollTop = list.scrollHeight;
}

// ---------- panels ----------

function renderPanels() {
  const turn = state.shown;
  const agent = state.agents.get(turn?.agentId ?? state.agentId);
  $('turn-label').textContent = turn ? `turn ${turn.n}${turn.done ? '' : ' · streaming'}` : '';
  $('stat-ttft').textContent = turn?.ttft != null ? `${fmtMs(turn.ttft)} ms` : '—';
  $('stat-first-byte').textContent = turn?.timings?.first_byte !== undefined ? `${fmtMs(turn.timings.first_byte)} ms` : '—';
  $('stat-total').textContent = turn?.timings?.total !== undefined ? `${fmtMs(turn.timings.total)} ms` : '—';
  $('stat-model').textContent = turn?.model ?? (agent ? agent.llm?.model ?? '—' : '—');
  $('stat-tokens').textContent = turn?.usage ? `${turn.usage.prompt_tokens} (${turn.usage.cached_prompt_tokens ?? 0} cached) / ${turn.usage.completion_tokens}` : '—';
  renderWaterfall(turn);
  renderRecalled(turn, agent);
  renderUpdates(turn, agent);
}

/**
 * Where each stage sat in time. The timings carry durations only, so offsets follow the
 * request path: auth → agent → history → (recall ‖ connect) → prompt → upstream; first
 * byte and total are measured from the request's start.
 */
function layout(t) {
  const at = {};
  const put = (stage, start) => {
    if (typeof t[stage] !== 'number') return start;
    at[stage] = [start, t[stage]];
    return start + t[stage];
  };
  let c = put('auth', 0);
  c = put('agent', c);
  c = put('history', c);
  const recallEnd = put('recall', c);
  put('recall_search', put('recall_embed', c));
  const connectEnd = put('connect', c);
  c = put('prompt', Math.max(recallEnd, connectEnd));
  put('upstream_ttfb', c);
  put('first_byte', 0);
  put('total', 0);
  return at;
}

function niceStep(max) {
  const raw = max / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function renderWaterfall(turn) {
  const box = $('waterfall');
  if (!turn) {
    box.replaceChildren(h('p', { class: 'empty' }, 'Send a message to see where its time went.'));
    return;
  }
  if (!turn.timings) {
    box.replaceChildren(h('p', { class: 'empty' }, turn.done ? 'No timings arrived for this turn.' : 'Waiting for the first byte…'));
    return;
  }
  const t = turn.timings;
  const skipped = t.skipped ?? {};
  const at = layout(t);
  let max = 0;
  for (const [start, dur] of Object.values(at)) max = Math.max(max, start + dur);
  if (turn.ttft !== null) max = Math.max(max, turn.ttft);
  const step = niceStep(max || 1);
  const span = Math.ceil((max || 1) / step) * step;
  const pct = (ms) => `${Math.min(100, (ms / span) * 100)}%`;

  const ticks = [];
  const grid = h('div', { class: 'wf-grid', 'aria-hidden': 'true' });
  for (let v = 0; v <= span + step / 1e6; v += step) {
    const label = step < 1 ? v.toFixed(Math.max(0, -Math.floor(Math.log10(step)))) : String(Math.round(v));
    const tick = h('span', { class: 'tick' }, label);
    tick.style.left = pct(v);
    ticks.push(tick);
    const line = h('span', { class: 'gridline' });
    line.style.left = pct(v);
    grid.append(line);
  }
  const rows = [h('div', { class: 'wf-row wf-axis' }, h('span', { class: 'wf-label' }, 'ms'), h('div', { class: 'wf-track' }, ticks), h('span', { class: 'wf-value' }))];

  const bar = (start, dur, cls) => {
    const b = h('div', { class: `wf-bar ${cls}` });
    b.style.left = pct(start);
    b.style.width = pct(dur);
    return b;
  };
  const row = (stage, cls, label, title, track, value, state) =>
    h('div', { class: `wf-row ${cls}`, 'data-stage': stage, 'data-state': state, title }, h('span', { class: 'wf-label' }, label), h('div', { class: 'wf-track' }, track), h('span', { class: 'wf-value' }, value));

  for (const stage of STAGES) {
    const [label, info] = STAGE_INFO[stage];
    const kind = SUMMARY_STAGES.has(stage) ? 'summary' : SUB_STAGES.has(stage) ? 'sub' : 'stage';
    const why = skipped[stage];
    const pos = at[stage];
    if (pos) {
      rows.push(row(stage, kind, label, `${stage}: ${info}`, [bar(pos[0], pos[1], why ? `s-${stage} skipped` : `s-${stage}`)], why ? [h('span', { class: 'skip' }, why), ` ${fmtMs(pos[1])}`] : fmtMs(pos[1]), why ? 'skipped' : 'measured'));
    } else if (why) {
      rows.push(row(stage, kind, label, `${stage}: ${info}`, [h('span', { class: 'wf-note' }, `skipped: ${why}`)], h('span', { class: 'skip' }, why), 'skipped'));
    } else {
      const note = stage === 'total' && !turn.done ? 'streaming…' : 'not run';
      rows.push(row(stage, `${kind} absent`, label, `${stage}: ${info}`, [h('span', { class: 'wf-note' }, note)], '—', 'absent'));
    }
  }
  if (turn.ttft !== null) {
    rows.push(row('client_ttft', 'summary client', 'first token', 'measured in this browser: send → first content event', [bar(0, turn.ttft, 's-client')], fmtMs(turn.ttft), 'measured'));
  }
  box.replaceChildren(
    h('div', { class: 'wf-rows' }, grid, ...rows),
    promptCacheNote(turn.usage),
    h('p', { class: 'wf-foot' }, 'Offsets follow the request path (recall and connect run side by side); “first token” is measured in this browser, network included.'),
  );
}

/** The prompt the model read, cached vs prefilled: the uncached part is what makes its first token grow with the prompt. */
function promptCacheNote(usage) {
  if (!usage) return h('p', { class: 'wf-foot wf-cache' });
  const cached = usage.cached_prompt_tokens ?? 0;
  const uncached = Math.max(0, usage.prompt_tokens - cached);
  const share = usage.prompt_tokens ? Math.round((100 * cached) / usage.prompt_tokens) : 0;
  return h(
    'p',
    { class: 'wf-foot wf-cache', 'data-cached': String(cached), 'data-uncached': String(uncached) },
    'prompt: ',
    h('span', { class: 'num' }, String(usage.prompt_tokens)),
    ' tokens — ',
    h('span', { class: 'num' }, String(cached)),
    ` from the provider's prompt cache (${share} %), `,
    h('span', { class: 'num' }, String(uncached)),
    ' prefilled (the part of the model’s first token that grows with the prompt)',
  );
}

function hint(agent, flag) {
  if (!agent || agent.streaming?.[flag]) return null;
  return h('li', { class: 'empty' }, `This agent does not send these (streaming.${flag} is off). `, h('button', { type: 'button', class: 'link', onclick: enablePanels }, 'Turn on'));
}

function renderRecalled(turn, agent) {
  const list = $('recalled');
  if (!turn) return list.replaceChildren(hint(agent, 'emit_metadata') ?? h('li', { class: 'empty' }, '—'));
  const skippedWhy = turn.timings?.skipped?.recall;
  if (turn.recalled === null) {
    return list.replaceChildren(turn.done ? (hint(agent, 'emit_metadata') ?? h('li', { class: 'empty' }, 'No metadata arrived.')) : h('li', { class: 'empty' }, 'Waiting…'));
  }
  if (!turn.recalled.length) {
    return list.replaceChildren(h('li', { class: 'empty' }, skippedWhy ? `Recall skipped (${skippedWhy}): nothing reached the prompt.` : 'Nothing recalled for this message.'));
  }
  list.replaceChildren(
    ...turn.recalled.map((m) => h('li', { class: 'mem', title: m.id }, h('span', { class: 'content' }, m.content), h('span', { class: 'score num' }, m.score.toFixed(3)))),
  );
}

function renderUpdates(turn, agent) {
  const list = $('updates');
  if (!turn) return list.replaceChildren(hint(agent, 'emit_memory_updates') ?? h('li', { class: 'empty' }, '—'));
  if (!turn.updates.length) {
    if (!turn.done) return list.replaceChildren(h('li', { class: 'empty' }, 'Extracted after the answer…'));
    const off = hint(agent, 'emit_memory_updates');
    if (off) return list.replaceChildren(off);
    return list.replaceChildren(h('li', { class: 'empty' }, turn.userId ? 'No changes from this turn.' : 'No changes: memories are kept per user id (set one above).'));
  }
  list.replaceChildren(
    ...turn.updates.map((u) =>
      h('li', { class: 'mem', title: u.memory_id }, h('span', { class: `badge ${u.event.toLowerCase()}` }, u.event), h('span', { class: 'content' }, u.content ?? '(deleted)')),
    ),
  );
}

// ---------- working memory and summary ----------

/** The current user's working memory and the session's summary, as the server has them now. */
async function renderContext() {
  const agent = state.agents.get(state.agentId);
  const userId = $('user').value.trim();
  const memory = agent?.memory; // absent in a scoped key's public view of the agent
  const block = (text, note) => [h('pre', {}, text), note ? h('p', { class: 'note' }, note) : null];
  const empty = (text) => h('p', { class: 'empty' }, text);

  const working = $('working');
  if (!agent) working.replaceChildren(empty('—'));
  else if (memory && !memory.working?.enabled) working.replaceChildren(empty('Working memory is off for this agent (memory.working.enabled).'));
  else if (memory?.working?.scope === 'session') working.replaceChildren(empty('This agent keeps working memory per session; the agent writes it with its tool.'));
  else if (!userId) working.replaceChildren(empty('Working memory is kept per user id (set one above).'));
  else {
    try {
      const w = await api('GET', `/api/v1/agents/${agent.id}/working-memory/${encodeURIComponent(userId)}`);
      working.replaceChildren(...(w.content ? block(w.content, w.updated_at ? `updated ${new Date(w.updated_at).toLocaleTimeString()}` : 'the template: nothing written yet') : [empty('Empty: nothing written yet.')]));
    } catch (err) {
      working.replaceChildren(empty(`Could not read it: ${err.message}`));
    }
  }

  const summary = $('summary');
  if (!agent || !state.sessionId) summary.replaceChildren(empty(agent && memory && !memory.summary?.enabled ? 'Summaries are off for this agent (memory.summary.enabled).' : 'No session yet.'));
  else {
    try {
      const s = await api('GET', `/api/v1/sessions/${state.sessionId}`);
      if (s.summary) summary.replaceChildren(...block(s.summary, `covers the session through message ${s.summarized_through}`));
      else summary.replaceChildren(empty(memory && !memory.summary?.enabled ? 'Summaries are off for this agent (memory.summary.enabled).' : `No summary yet (one is written once the session passes ${memory?.summary?.trigger_tokens ?? 'memory.summary.trigger_tokens'} tokens).`));
    } catch (err) {
      summary.replaceChildren(empty(`Could not read it: ${err.message}`));
    }
  }
}

// ---------- wiring ----------

$('key').value = state.key;
$('user').value = store.get('user');

$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  state.key = $('key').value.trim();
  keyStore.set('key', state.key);
  connect();
});
$('agent').addEventListener('change', () => {
  state.agentId = $('agent').value;
  store.set('agent', state.agentId);
  newSession();
});
$('new-agent').addEventListener('click', createQuickAgent);
$('new-session').addEventListener('click', newSession);
$('user').addEventListener('change', () => {
  store.set('user', $('user').value.trim());
  // A session belongs to one user: another user id starts another session.
  if (state.sessionId) newSession();
  else renderContext();
});
$('chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if (state.running) {
    state.running.abort();
    return;
  }
  const box = $('message');
  const message = box.value.trim();
  if (!message || $('send').disabled) return;
  box.value = '';
  sendMessage(message);
});
$('message').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('chat-form').requestSubmit();
  }
});

renderSession();
renderPanels();
if (state.key) connect();
else setStatus('Paste an API key (the admin key printed at first start works).');
