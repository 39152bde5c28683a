// DOM and formatting helpers. Every value the explorer shows is untrusted (tags, data,
// results, ids, peer records): it enters the page only as a text node, as a DOM property or
// as an attribute the browser never runs. Nothing here parses HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

// Attributes h() refuses: event handlers and anything that could carry a script URL.
const UNSAFE_ATTR = /^on|^(srcdoc|formaction|xlink:href)$/i;

function setAttr(el, k, v) {
  if (v === undefined || v === null || v === false) return;
  if (UNSAFE_ATTR.test(k)) throw new Error('h: refusing attribute ' + k);
  if (k === 'class') { el.setAttribute('class', String(v)); return; }
  if (k === 'href') { el.setAttribute('href', safeHref(String(v))); return; }
  if (k === 'dataset') { for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv); return; }
  el.setAttribute(k, v === true ? '' : String(v));
}

function append(el, kids) {
  for (const c of kids) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) { append(el, c); continue; }
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// h builds an element: h('a', {href: '#/x', class: 'id'}, 'text', child, [more]).
// Strings become text nodes; listeners go in {on: {click: fn}}.
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  build(el, attrs, kids);
  return el;
}

// s builds an SVG element the same way.
export function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  build(el, attrs, kids);
  return el;
}

function build(el, attrs, kids) {
  if (attrs && (attrs instanceof Node || typeof attrs !== 'object' || Array.isArray(attrs))) {
    kids.unshift(attrs);
    attrs = null;
  }
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'on') { for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn); continue; }
      setAttr(el, k, v);
    }
  }
  append(el, kids);
}

// safeHref lets through the explorer's own routes, same-origin paths and http(s) URLs;
// anything else (javascript:, data:, …) becomes a dead link.
export function safeHref(v) {
  if (v.startsWith('#/')) return v;
  if (v.startsWith('/') && !v.startsWith('//')) return v;
  try {
    const u = new URL(v);
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.href;
  } catch (_) { /* not a URL */ }
  return '#/';
}

// clear empties an element.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// replace puts kids in place of el's children.
export function replace(el, ...kids) {
  clear(el);
  append(el, kids);
  return el;
}

// short cuts an id in the middle: abcdef…uvwxyz.
export function short(id, n = 6) {
  id = String(id || '');
  return id.length <= 2 * n + 1 ? id : id.slice(0, n) + '…' + id.slice(-n);
}

export function isID(v) {
  return typeof v === 'string' && /^[A-Za-z0-9_-]{43}$/.test(v);
}

// route builds a hash route from a path and query values (empty ones dropped).
export function route(path, q) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(q || {})) if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  const t = qs.toString();
  return '#' + path + (t ? '?' + t : '');
}

// idLink is an id shown short, linked, with the full id on hover and a copy button.
export function idLink(id, href, opts = {}) {
  if (!id) return h('span', {class: 'muted'}, '—');
  const a = href ? h('a', {class: 'id', href, title: id}, opts.full ? id : short(id, opts.n || 6))
    : h('span', {class: 'id', title: id}, opts.full ? id : short(id, opts.n || 6));
  if (opts.copy === false) return a;
  return h('span', {class: 'idwrap'}, a, copyButton(id));
}

function copyIcon() {
  return s('svg', {viewBox: '0 0 16 16', width: 12, height: 12, 'aria-hidden': 'true'},
    s('rect', {x: 5, y: 5, width: 9, height: 9, rx: 1.5, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5}),
    s('path', {d: 'M11 3.5V3a1 1 0 0 0-1-1H3a1 1 0 0 0-1 1v7a1 1 0 0 0 1 1h.5', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5}));
}

export function copyButton(text) {
  const b = h('button', {class: 'copy', type: 'button', title: 'Copy', 'aria-label': 'Copy'}, copyIcon());
  b.addEventListener('click', (ev) => {
    ev.preventDefault();
    ev.stopPropagation();
    const done = () => { replace(b, '✓'); setTimeout(() => replace(b, copyIcon()), 900); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
    } else {
      fallbackCopy(text, done);
    }
  });
  return b;
}

function fallbackCopy(text, done) {
  const t = h('textarea', {class: 'offscreen'});
  t.value = text;
  document.body.appendChild(t);
  t.select();
  try { document.execCommand('copy'); done(); } catch (_) { /* nothing to do */ }
  t.remove();
}

export function processLink(id, name) {
  return h('span', {class: 'idwrap'},
    h('a', {class: 'id', href: route('/process/' + id), title: id}, name ? name : short(id)),
    name ? h('span', {class: 'id muted small', title: id}, ' ' + short(id, 4)) : null,
    copyButton(id));
}

export function messageLink(id, pid) {
  return idLink(id, route('/message/' + id, {process: pid}));
}

// addressLink is a wallet or process address: linked to a search for it.
export function addressLink(a) {
  if (!a) return h('span', {class: 'muted'}, '—');
  return idLink(a, route('/search', {q: a}));
}

const units = [['d', 86400e3], ['h', 3600e3], ['m', 60e3], ['s', 1e3]];

export function duration(ms) {
  if (!(ms >= 0)) return '—';
  if (ms < 1000) return Math.round(ms) + ' ms';
  const out = [];
  for (const [u, n] of units) {
    if (ms >= n || (u === 's' && out.length === 0)) {
      const v = Math.floor(ms / n);
      ms -= v * n;
      out.push(v + u);
    }
    if (out.length === 2) break;
  }
  return out.join(' ');
}

export function ago(ms, now = Date.now()) {
  if (!ms) return '—';
  const d = now - ms;
  if (d < 0) return 'in ' + duration(-d);
  if (d < 1500) return 'just now';
  return duration(d) + ' ago';
}

export function when(ms) {
  if (!ms) return h('span', {class: 'muted'}, '—');
  const d = new Date(ms);
  const iso = isNaN(d) ? String(ms) : d.toISOString().replace('T', ' ').replace('Z', ' UTC');
  return h('time', {datetime: isNaN(d) ? '' : d.toISOString(), title: iso}, ago(ms));
}

export function num(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  if (typeof n !== 'number') return String(n);
  if (Math.abs(n) >= 1e4 || Number.isInteger(n)) return Math.round(n).toLocaleString('en-US');
  return n.toLocaleString('en-US', {maximumFractionDigits: n < 10 ? 2 : 1});
}

export function bytes(n) {
  if (!(n >= 0)) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + ' ' + u[i];
}

// badge is a small coloured label.
export function badge(text, kind) {
  return h('span', {class: 'badge ' + (kind || '')}, text);
}

// tagTable shows tags as a two-column table.
export function tagTable(tags) {
  if (!tags || tags.length === 0) return h('p', {class: 'muted'}, 'No tags.');
  return h('table', {class: 'kv tags'},
    h('tbody', tags.map((t) => h('tr', h('th', t.name), h('td', {class: 'mono'}, t.value)))));
}

// kv is a definition table of [label, value] rows; rows with a null value are skipped.
export function kv(rows) {
  return h('table', {class: 'kv'},
    h('tbody', rows.filter((r) => r && r[1] !== null && r[1] !== undefined).map(([k, v]) => h('tr', h('th', k), h('td', v)))));
}

export function card(title, ...body) {
  return h('section', {class: 'card'}, title ? h('h2', title) : null, ...body);
}

export function errorBox(err) {
  return h('div', {class: 'error-box'}, String(err && err.message ? err.message : err));
}

// pre shows text as preformatted, with terminal colour escapes removed.
export function pre(text, cls) {
  // eslint-disable-next-line no-control-regex
  const clean = String(text).replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '');
  return h('pre', {class: cls || 'text'}, clean);
}

// ApiError is a non-2xx answer.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// getJSON fetches a same-origin JSON endpoint.
export async function getJSON(path, signal) {
  const resp = await fetch(path, {signal, headers: {Accept: 'application/json'}, credentials: 'same-origin'});
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  if (!resp.ok) {
    const msg = body && typeof body.error === 'string' ? body.error : (text.slice(0, 200) || resp.statusText);
    throw new ApiError(resp.status, resp.status + ': ' + msg);
  }
  if (body === null && text) throw new ApiError(resp.status, 'not JSON: ' + text.slice(0, 120));
  return body;
}

// optionalJSON is getJSON for endpoints a node may not have: null on 404, 405 or 501, and on
// any refusal at all with {anyStatus: true} (a route a unit's catch-all answers 400).
export async function optionalJSON(path, signal, opts = {}) {
  try {
    return await getJSON(path, signal);
  } catch (e) {
    if (e instanceof ApiError && (opts.anyStatus || e.status === 404 || e.status === 405 || e.status === 501)) return null;
    throw e;
  }
}
