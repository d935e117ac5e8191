// mailtally dashboard (issue 12): one more OMA client over the same origin.
//
// Rules this file keeps (README "Dashboard"):
// - the session token lives in the `session` variable only: never in the URL,
//   a cookie or storage; reloading the page signs out;
// - every name and number reaches the page as text (textContent / text nodes),
//   never as HTML; no inline script or style (the page's CSP forbids both);
// - the place and period are in the URL hash
//   (#/company/<c>/domain/<d>/user/<a>?period=week), so a view can be bookmarked.
(() => {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const CLIENT = 'mailtally dashboard';
  const PAGE = 50; // users per page of a domain
  const PERIODS = ['day', 'week', 'month'];
  const COMPANY_ROLES = ['company', 'company_ro', 'company_view', 'company_mail'];

  // Chart groups: [title, unit, [[label, path]...]] (SPEC §3 names).
  const GROUPS = [
    ['Messages', 'count', [
      ['ham', 'messages.in_ham'], ['spam', 'messages.in_spam'], ['denied', 'messages.denied'],
      ['out', 'messages.out_msg_count'], ['forwards', 'messages.forward_count'],
      ['auto-responses', 'messages.autorespond_count']]],
    ['Bytes', 'bytes', [['in', 'messages.in_size'], ['out', 'messages.out_size']]],
    ['Logins', 'count', [['IMAP4', 'logins.imap4'], ['POP3', 'logins.pop3'],
      ['webmail', 'logins.webmail']]],
    ['Storage', 'bytes', [['live accounts', 'storage.current_size'],
      ['deleted accounts', 'deleted_users.storage_current_size']]],
    ['Users', 'count', [['mailbox', 'users.mailbox'], ['forward', 'users.forward'],
      ['filter', 'users.filter'], ['alias', 'users.alias'], ['deleted', 'users.deleted']]],
    ['Services enabled', 'count', [['SMTP in', 'services.smtpin'],
      ['SMTP relay', 'services.smtprelay'], ['IMAP4', 'services.imap4'],
      ['POP3', 'services.pop3'], ['webmail', 'services.webmail']]],
  ];
  // A user's summary: every leaf a string ("" for 0); services are states.
  const USER_GROUPS = [
    GROUPS[0], GROUPS[1],
    ['Logins', 'count', [['IMAP4', 'logins.imap4'], ['POP3', 'logins.pop3'],
      ['webmail', 'logins.webmail'], ['API password', 'logins.auth_password'],
      ['API token', 'logins.auth_token']]],
    ['Storage', 'bytes', [['stored', 'storage.current_size'], ['quota', 'storage.allowed_size']]],
  ];
  const COLORS = ['#2456c7', '#d9480f', '#b3261e', '#2b8a3e', '#7048e8', '#868e96'];
  // key figures beside each domain (stats_top, one call each)
  const FIGURES = [['ham', 'messages.in_ham'], ['spam', 'messages.in_spam'],
    ['out', 'messages.out_msg_count'], ['bytes in', 'messages.in_size']];
  const TOP_METRICS = GROUPS[0][2].concat(GROUPS[1][2], GROUPS[2][2]);

  let session = null; // {user, token, info}
  let charts = [];
  let renderSeq = 0;

  class ApiError extends Error {
    constructor(message, number) { super(message); this.number = number; }
  }

  // -- the API --------------------------------------------------------------
  async function post(method, body) {
    const r = await fetch('/api/' + method, {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
    let a;
    try { a = await r.json(); } catch (e) { throw new ApiError('the server answered HTTP ' + r.status, 0); }
    if (!a.success) throw new ApiError(a.error || 'failed', a.error_number);
    return a;
  }
  async function call(method, body) {
    const credentials = {user: session.user, token: session.token, client: CLIENT};
    try {
      return await post(method, Object.assign({credentials}, body));
    } catch (e) {
      if (e.number === 1) signedOut('Your session ended: sign in again.');
      throw e;
    }
  }
  // the token expired or was revoked (logout_user): back to the sign-in form,
  // keeping the place in the hash
  function signedOut(message) {
    session = null;
    $('view').hidden = true;
    $('signout').hidden = true;
    $('who').textContent = '';
    $('signin').hidden = false;
    $('signin-error').textContent = message;
  }

  // -- DOM helpers (text only) ------------------------------------------------
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'text') e.textContent = v;
      else if (k === 'on') for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
      else if (k === 'data') Object.assign(e.dataset, v);
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c); // strings become text nodes
    return e;
  }
  const fmt = (n) => Number(n).toLocaleString('en-US');
  function short(n, unit) {
    const base = unit === 'bytes' ? 1024 : 1000;
    const marks = unit === 'bytes' ? ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] : ['', 'k', 'M', 'G', 'T', 'P'];
    let i = 0; let v = Math.abs(n);
    while (v >= base && i < marks.length - 1) { v /= base; i++; }
    const s = (n < 0 ? -v : v).toFixed(v < 10 && i > 0 ? 1 : 0);
    return unit === 'bytes' ? s + ' ' + marks[i] : s + marks[i];
  }
  function pick(obj, path) {
    let v = obj;
    for (const k of path.split('.')) v = v == null ? undefined : v[k];
    const n = Number(v === '' || v == null ? 0 : v);
    return Number.isFinite(n) ? n : 0;
  }
  function periodLabel(key, by) {
    if (by === 'day') return key.slice(0, 4) + '-' + key.slice(4, 6) + '-' + key.slice(6, 8);
    if (by === 'week') return 'week of ' + key.slice(0, 4) + '-' + key.slice(4, 6) + '-' + key.slice(6, 8);
    return key;
  }
  function axisLabel(key, by) {
    if (by === 'day') return key.slice(4, 6) + '-' + key.slice(6, 8);
    if (by === 'week') return key.slice(4, 6) + '-' + key.slice(6, 8);
    return key;
  }

  // -- places (the URL hash) ------------------------------------------------
  function parseHash() {
    const h = location.hash.replace(/^#\/?/, '');
    const [path, query] = h.split('?');
    let parts = [];
    try {
      parts = path ? path.split('/').map(decodeURIComponent) : [];
    } catch (e) { /* a malformed escape (#/company/%E0): the caller's home */ }
    const place = {companies: false, company: null, domain: null, user: null};
    for (let i = 0; i < parts.length; i++) {
      if (parts[i] === 'companies') place.companies = true;
      else if (['company', 'domain', 'user'].includes(parts[i]) && i + 1 < parts.length) {
        place[parts[i]] = parts[i + 1]; i++;
      }
    }
    const period = new URLSearchParams(query || '').get('period');
    place.period = PERIODS.includes(period) ? period : 'day';
    return place;
  }
  function hashOf(place) {
    let h = '#/';
    if (place.companies) h += 'companies';
    const segs = [];
    for (const k of ['company', 'domain', 'user']) {
      if (place[k]) segs.push(k, encodeURIComponent(place[k]));
    }
    if (segs.length) h = '#/' + segs.join('/');
    return h + '?period=' + (place.period || 'day');
  }
  // the caller's widest scope
  function home() {
    const info = session.info;
    const roles = info.roles || [];
    const has = (names) => roles.find((r) => names.includes(r.role));
    if (info.type === 'operator') return {companies: true};
    if (has(COMPANY_ROLES)) return {company: info.company};
    const dom = has(['domain', 'mail']);
    if (dom) return {company: info.company, domain: dom.object};
    return {company: info.company, domain: info.domain, user: session.user};
  }
  function depth(place) {
    if (place.user) return 3;
    if (place.domain) return 2;
    if (place.company) return 1;
    return 0;
  }

  // -- sign in and out ------------------------------------------------------
  async function signIn(ev) {
    ev.preventDefault();
    const user = $('user').value.trim();
    const password = $('password').value;
    $('signin-error').textContent = '';
    $('signin-button').disabled = true;
    try {
      const a = await post('authenticate', {
        credentials: {user, password, client: CLIENT},
        generate_session_token: true,
        fetch_extra_info: true,
      });
      session = {user, token: a.session_token, info: a.extra_info};
      $('password').value = '';
      $('signin').hidden = true;
      $('view').hidden = false;
      $('signout').hidden = false;
      $('who').textContent = user;
      const place = parseHash();
      if (depth(place) === 0 && !place.companies) {
        location.hash = hashOf(Object.assign(home(), {period: place.period}));
      } else {
        render();
      }
    } catch (e) {
      $('signin-error').textContent = e.message;
    } finally {
      $('signin-button').disabled = false;
    }
  }
  async function signOut() {
    const ending = session;
    session = null;
    // The session's own token ends on the server too, and only it (logout_user
    // would end the user's other sessions as well): authenticate makes the same
    // token string again (its `token` parameter), good for one second.  Whatever the
    // answer (the server unreachable, the token already gone), the tab forgets it.
    if (ending) {
      try {
        await post('authenticate', {
          credentials: {user: ending.user, token: ending.token, client: CLIENT},
          generate_session_token: true,
          token: ending.token,
          session_token_duration: 1,
        });
      } catch (e) { /* the token is forgotten here all the same */ }
    }
    // a fresh page forgets everything the tab held
    location.replace(location.pathname);
  }

  // -- the view -------------------------------------------------------------
  function crumbs(place) {
    const nav = $('crumbs');
    nav.replaceChildren();
    const top = home();
    const levels = [];
    if (top.companies) levels.push(['companies', {companies: true}]);
    if (place.company) levels.push([place.company, {company: place.company}]);
    if (place.domain) levels.push([place.domain, {company: place.company, domain: place.domain}]);
    if (place.user) levels.push([place.user, {company: place.company, domain: place.domain, user: place.user}]);
    const from = top.companies ? 0 : depth(top) - 1;
    for (const [name, p] of levels.slice(Math.max(0, from))) {
      p.period = place.period;
      nav.append(el('a', {href: hashOf(p)}, name));
    }
  }

  function destroyCharts() {
    for (const c of charts) c.destroy();
    charts = [];
  }

  async function render() {
    if (!session) return;
    const place = parseHash();
    if (depth(place) === 0 && !place.companies) {  // (an empty or malformed hash)
      location.hash = hashOf(Object.assign(home(), {period: place.period}));
      return;
    }
    const seq = ++renderSeq;
    crumbs(place);
    $('error').textContent = '';
    destroyCharts();
    $('charts').replaceChildren();
    $('numbers').replaceChildren();
    $('lists').replaceChildren();
    for (const b of $('periods').querySelectorAll('button')) {
      b.setAttribute('aria-pressed', String(b.dataset.period === place.period));
    }
    if (place.companies && depth(place) === 0) {
      $('title').textContent = 'Companies';
      $('controls').hidden = true;
      try {
        await companiesList(place, seq);
      } catch (e) { if (seq === renderSeq) $('error').textContent = e.message; }
      return;
    }
    $('controls').hidden = false;
    const type = place.user ? 'user' : place.domain ? 'domain' : 'company';
    const object = place[type];
    if (!object) { $('title').textContent = ''; $('error').textContent = 'nothing to show'; return; }
    $('title').textContent = object;
    document.title = object + ' · mailtally';
    let answer;
    try {
      answer = await call('stats_summary', {type, object, by: place.period});
    } catch (e) {
      if (seq === renderSeq) $('error').textContent = e.message;
      return;
    }
    if (seq !== renderSeq) return;
    const keys = Object.keys(answer.summary).sort();
    const groups = type === 'user' ? USER_GROUPS : GROUPS;
    drawCharts(groups, answer.summary, keys, place.period);
    numbersTable(groups, answer.summary, keys, place.period);
    const current = listedPeriod(groups, answer.summary, keys);
    try {
      if (type === 'company') await domainsList(place, current, seq);
      if (type === 'domain') await domainLists(place, current, seq);
    } catch (e) { if (seq === renderSeq) $('error').textContent = e.message; }
  }

  // The period whose figures the lists show: the newest with any mail or
  // logins counted, else the newest (early in a day, today's period is empty).
  function listedPeriod(groups, summary, keys) {
    const flows = groups[0][2].concat(groups[1][2], groups[2][2]);
    for (let i = keys.length - 1; i >= 0; i--) {
      if (flows.some(([, path]) => pick(summary[keys[i]], path) > 0)) return keys[i];
    }
    return keys[keys.length - 1];
  }

  function drawCharts(groups, summary, keys, by) {
    const xs = keys.map((_, i) => i);
    const width = () => Math.max(260, Math.min(($('charts').clientWidth || 600) - 20, 1160));
    for (const [title, unit, members] of groups) {
      const box = el('div', {class: 'chart', data: {group: title}}, el('h3', {text: title}));
      $('charts').append(box);
      const data = [xs, ...members.map(([, path]) => keys.map((k) => pick(summary[k], path)))];
      const opts = {
        width: Math.min(width(), 560), height: 220,
        scales: {x: {time: false}},
        series: [
          {label: 'period', value: (u, v) => (v == null ? '' : periodLabel(keys[v], by))},
          ...members.map(([label], i) => ({
            label, stroke: COLORS[i % COLORS.length], width: 2,
            value: (u, v) => (v == null ? '' : unit === 'bytes' ? short(v, unit) : fmt(v)),
          })),
        ],
        axes: [
          {values: (u, splits) => splits.map((i) => (keys[i] === undefined ? '' : axisLabel(keys[i], by)))},
          {values: (u, splits) => splits.map((v) => short(v, unit)), size: 72},
        ],
        legend: {live: true},
        cursor: {drag: {x: false, y: false}},
      };
      charts.push(new uPlot(opts, data, box));
    }
    fitCharts();
  }
  function fitCharts() {
    for (const c of charts) {
      const w = Math.max(240, c.root.parentElement.clientWidth - 20);
      if (Math.abs(c.width - w) > 4) c.setSize({width: w, height: 220});
    }
  }

  // The numbers table: one row per period, one column per member of every group.
  function numbersTable(groups, summary, keys, by) {
    const cols = [];
    for (const [title, unit, members] of groups) {
      for (const [label, path] of members) cols.push([title + ': ' + label, path, unit]);
    }
    const head = el('tr', {}, el('th', {scope: 'col'}, 'period'),
      ...cols.map(([name]) => el('th', {scope: 'col'}, name)));
    const rows = keys.slice().reverse().map((k) => el('tr', {},
      el('td', {data: {value: k}}, periodLabel(k, by)),
      ...cols.map(([, path]) => {
        const v = pick(summary[k], path);
        return el('td', {data: {value: String(v)}}, fmt(v));
      })));
    $('numbers').append(el('table', {id: 'numbers-table'}, el('thead', {}, head), el('tbody', {}, ...rows)));
  }

  // A sortable table (client-side sort) of rows: [[{text, value, href?}...]...]
  function sortableTable(id, columns, rows, initial) {
    const table = el('table', {id});
    const tbody = el('tbody');
    let sortBy = initial ? initial[0] : 0;
    let desc = initial ? initial[1] : false;
    const ths = columns.map(([name, numeric], i) => el('th', {scope: 'col'},
      el('button', {type: 'button', on: {click: () => {
        if (sortBy === i) desc = !desc; else { sortBy = i; desc = numeric; }
        draw();
      }}}, name)));
    function draw() {
      const numeric = columns[sortBy][1];
      const sorted = rows.slice().sort((a, b) => {
        const x = a[sortBy].value; const y = b[sortBy].value;
        const c = numeric ? x - y : String(x).localeCompare(String(y));
        return desc ? -c : c;
      });
      ths.forEach((th, i) => {
        if (i === sortBy) th.setAttribute('aria-sort', desc ? 'descending' : 'ascending');
        else th.removeAttribute('aria-sort');
      });
      tbody.replaceChildren(...sorted.map((r) => el('tr', {}, ...r.map(cell))));
    }
    table.append(el('thead', {}, el('tr', {}, ...ths)), tbody);
    draw();
    return table;
  }
  function cell(c) {
    const td = el('td', {data: {value: String(c.value)}});
    if (c.href) td.append(el('a', {href: c.href}, c.text));
    else td.append(c.text);
    return td;
  }
  const num = (v) => ({text: fmt(v), value: v});
  function listSection(title, ...children) {
    const s = el('section', {class: 'list'}, el('h3', {text: title}), ...children);
    $('lists').append(s);
    return s;
  }
  function csvButton(tableId, name) {
    return el('button', {type: 'button', class: 'csv', data: {table: tableId},
      on: {click: () => downloadCsv(tableId, name)}}, 'Download CSV');
  }

  // A search read whole: the API answers at most 1,000 a call (SPEC: a
  // search's range), and a provider has more companies than that.
  const SEARCH_MAX = 1000;
  async function searchAll(method, key, body) {
    const first = await call(method, {...body, range: {first: 0, limit: SEARCH_MAX}});
    const items = first[key].slice();
    while (items.length < first.total_count) {
      const next = await call(method, {...body, range: {first: items.length, limit: SEARCH_MAX}});
      if (!next[key].length) break; // (fewer than counted: some went meanwhile)
      items.push(...next[key]);
    }
    return {total_count: first.total_count, items};
  }

  async function companiesList(place, seq) {
    const a = await searchAll('search_companies', 'companies', {});
    if (seq !== renderSeq) return;
    const rows = a.items.map((c) => [
      {text: c.company, value: c.company, href: hashOf({company: c.company, period: place.period})},
      num(c.domains), num(c.users)]);
    listSection('Companies (' + fmt(a.total_count) + ')', csvButton('companies-table', 'companies'),
      el('div', {class: 'scroll'},
        sortableTable('companies-table', [['company', false], ['domains', true], ['users', true]], rows)));
  }

  async function domainsList(place, period, seq) {
    const [found, ...tops] = await Promise.all([
      searchAll('search_domains', 'domains', {criteria: {company: place.company}}),
      ...FIGURES.map(([, metric]) => call('stats_top', {type: 'company', object: place.company,
        of: 'domains', metric, by: place.period, period, limit: SEARCH_MAX})),
    ]);
    if (seq !== renderSeq) return;
    // a domain missing from a full top (1,000 answered) is below it, not zero:
    // its figure is not known, shown as "—" and sorted last
    const figures = tops.map((t) => [new Map(t.top.map((i) => [i.name, i.value])), t.top.length >= SEARCH_MAX]);
    const rows = found.items.map((d) => [
      {text: d.domain, value: d.domain,
        href: hashOf({company: place.company, domain: d.domain, period: place.period})},
      num(d.counts.mailbox + d.counts.forward + d.counts.filter),
      ...figures.map(([m, full]) => m.has(d.domain) ? num(m.get(d.domain))
        : full ? {text: '—', value: -1} : num(0))]);
    const columns = [['domain', false], ['users', true], ...FIGURES.map(([n]) => [n + ' (' + periodLabel(period, place.period) + ')', true])];
    listSection('Domains (' + fmt(found.total_count) + ')', csvButton('domains-table', 'domains'),
      el('div', {class: 'scroll'}, sortableTable('domains-table', columns, rows)));
  }

  async function domainLists(place, period, seq) {
    // users: searched and sorted by the server, a page at a time
    const state = {first: 0, match: '', by: 'user', direction: 'ascending'};
    const search = el('input', {type: 'search', id: 'user-search', placeholder: 'search addresses', 'aria-label': 'search addresses'});
    const info = el('span', {class: 'muted', id: 'users-count'});
    const prev = el('button', {type: 'button', id: 'users-prev'}, 'Previous');
    const next = el('button', {type: 'button', id: 'users-next'}, 'Next');
    const wrap = el('div', {class: 'scroll'});
    const cols = [['user', 'address'], ['type', 'type'], ['workgroup', 'workgroup'], ['lastlogin', 'last login']];
    async function page() {
      const criteria = {domain: place.domain};
      if (state.match) criteria.match = '*' + state.match.replace(/[*?]/g, '') + '*';
      const a = await call('search_users', {criteria, fields: ['type', 'workgroup', 'lastlogin'],
        range: {first: state.first, limit: PAGE}, sort: {by: state.by, direction: state.direction}});
      if (seq !== renderSeq) return;
      const ths = cols.map(([key, name]) => {
        const th = el('th', {scope: 'col'}, el('button', {type: 'button', on: {click: () => {
          state.direction = state.by === key && state.direction === 'ascending' ? 'descending' : 'ascending';
          state.by = key; state.first = 0; page().catch(showError);
        }}}, name));
        if (state.by === key) th.setAttribute('aria-sort', state.direction);
        return th;
      });
      const rows = a.users.map((u) => el('tr', {},
        cell({text: u.user, value: u.user,
          href: hashOf({company: place.company, domain: place.domain, user: u.user, period: place.period})}),
        cell({text: u.type || '', value: u.type || ''}),
        cell({text: u.workgroup || '', value: u.workgroup || ''}),
        cell({text: u.lastlogin || '', value: u.lastlogin || ''})));
      wrap.replaceChildren(el('table', {id: 'users-table'}, el('thead', {}, el('tr', {}, ...ths)), el('tbody', {}, ...rows)));
      const last = state.first + a.count;
      info.textContent = a.total_count ? fmt(state.first + 1) + '–' + fmt(last) + ' of ' + fmt(a.total_count) : 'no users';
      prev.disabled = state.first === 0;
      next.disabled = last >= a.total_count;
    }
    let timer = 0;
    search.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => { state.match = search.value.trim(); state.first = 0; page().catch(showError); }, 250);
    });
    prev.addEventListener('click', () => { state.first = Math.max(0, state.first - PAGE); page().catch(showError); });
    next.addEventListener('click', () => { state.first += PAGE; page().catch(showError); });
    listSection('Users', el('div', {class: 'tools'}, search, csvButton('users-table', 'users')),
      el('div', {class: 'pager'}, prev, next, info), wrap);
    await page();

    // the busiest users of this period by one metric (stats_top)
    const select = el('select', {id: 'top-metric', 'aria-label': 'metric'},
      ...TOP_METRICS.map(([label, path]) => el('option', {value: path}, path)));
    const topWrap = el('div', {class: 'scroll'});
    async function top() {
      const a = await call('stats_top', {type: 'domain', object: place.domain, of: 'users',
        metric: select.value, by: place.period, period, limit: 10});
      if (seq !== renderSeq) return;
      const rows = a.top.map((t) => [
        {text: t.name, value: t.name,
          href: hashOf({company: place.company, domain: place.domain, user: t.name, period: place.period})},
        num(t.value)]);
      topWrap.replaceChildren(sortableTable('top-table', [['user', false], [select.value, true]], rows, [1, true]));
      if (!rows.length) topWrap.append(el('p', {class: 'muted'}, 'none in this period yet'));
    }
    select.addEventListener('change', () => top().catch(showError));
    listSection('Top users (' + periodLabel(period, place.period) + ')',
      el('div', {class: 'tools'}, select, csvButton('top-table', 'top-users')), topWrap);
    await top();

    const w = await searchAll('search_workgroups', 'workgroups', {criteria: {domain: place.domain}});
    if (seq !== renderSeq) return;
    const rows = w.items.map((g) => [{text: g.workgroup, value: g.workgroup}, num(g.users)]);
    listSection('Workgroups (' + fmt(w.total_count) + ')', csvButton('workgroups-table', 'workgroups'),
      el('div', {class: 'scroll'}, sortableTable('workgroups-table', [['workgroup', false], ['users', true]], rows)));
  }
  function showError(e) { $('error').textContent = e.message; }

  // -- CSV of a shown table (client-side) -----------------------------------
  function csvField(s) {
    // a text a spreadsheet would run as a formula is kept as text
    if (/^[=+@\t\r-]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function tableCsv(table) {
    const lines = [];
    for (const tr of table.querySelectorAll('tr')) {
      const cells = [...tr.children].map((c) => (c.tagName === 'TD' && c.dataset.value !== undefined ? c.dataset.value : c.textContent));
      lines.push(cells.map(csvField).join(','));
    }
    return lines.join('\r\n') + '\r\n';
  }
  function downloadCsv(tableId, name) {
    const table = $(tableId);
    if (!table) return;
    const place = parseHash();
    const what = [place.company, place.domain, place.user].filter(Boolean).join('_') || 'all';
    const blob = new Blob([tableCsv(table)], {type: 'text/csv'});
    const a = el('a', {href: URL.createObjectURL(blob),
      download: ('mailtally_' + what + '_' + name + '_' + place.period + '.csv').replace(/[^\w.@-]+/g, '-')});
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  // -- wiring ---------------------------------------------------------------
  function init() {
    $('signin').addEventListener('submit', signIn);
    $('signout').addEventListener('click', signOut);
    $('toggle-table').addEventListener('click', () => {
      const shown = $('numbers').hidden;
      $('numbers').hidden = !shown;
      $('toggle-table').textContent = shown ? 'Hide table' : 'Show table';
    });
    $('csv').addEventListener('click', () => downloadCsv('numbers-table', 'summary'));
    for (const b of $('periods').querySelectorAll('button')) {
      b.addEventListener('click', () => {
        const place = parseHash();
        place.period = b.dataset.period;
        location.hash = hashOf(place);
      });
    }
    window.addEventListener('hashchange', render);
    let resize = 0;
    window.addEventListener('resize', () => { clearTimeout(resize); resize = setTimeout(fitCharts, 100); });
    $('user').focus();
  }
  init();
})();
