// The explorer's views. Routes live in the URL fragment (#/process/<id>?before=N), so every
// page can be linked and reloaded. Each view owns an AbortController and its timers, which
// end when the route changes.

import {
  h, s, clear, replace, short, isID, route, idLink, copyButton, processLink, messageLink,
  addressLink, duration, ago, when, num, bytes, badge, tagTable, kv, card, errorBox, pre,
  getJSON, optionalJSON, ApiError,
} from './dom.js';
import {layout, roleRing, markers, edgePath, panZoom, ROLE_COLORS, EDGE_COLORS} from './graph.js';
import {parseMetrics, FIGURES, figureSample} from './metrics.js';

const viewEl = document.getElementById('view');
let node = null; // GET api/node, once
let current = null;

// ---------------------------------------------------------------- view lifecycle

function startView() {
  if (current) {
    current.ac.abort();
    for (const t of current.timers) clearTimeout(t);
  }
  current = {ac: new AbortController(), timers: []};
  return current;
}

// every runs fn now and then every ms while the view lives and the tab is visible.
function every(ctx, ms, fn) {
  const tick = async () => {
    if (ctx.ac.signal.aborted) return;
    if (!document.hidden) {
      try { await fn(); } catch (e) { if (!ctx.ac.signal.aborted) console.warn(e); }
    }
    if (!ctx.ac.signal.aborted) ctx.timers.push(setTimeout(tick, ms));
  };
  return tick();
}

function setNav(name) {
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === name);
  }
}

function parseRoute() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
  return {parts, q: new URLSearchParams(qs || '')};
}

// render draws the page of the current route. body[data-ready] names the route once its
// page is drawn (tests wait for it); it is cleared while a page is being drawn.
async function render() {
  const ctx = startView();
  const hash = location.hash || '#/';
  delete document.body.dataset.ready;
  const {parts, q} = parseRoute();
  window.scrollTo(0, 0);
  try {
    if (!node) node = await getJSON('api/node', ctx.ac.signal);
    footer();
    switch (parts[0] || '') {
      case '': setNav('overview'); await overview(ctx); break;
      case 'network': setNav('network'); await networkView(ctx, q); break;
      case 'processes': setNav('processes'); await processesView(ctx, q); break;
      case 'process': setNav('processes'); await processView(ctx, parts[1], q); break;
      case 'message': setNav(''); await messageView(ctx, parts[1], q); break;
      case 'search': setNav(''); await searchView(ctx, q.get('q') || ''); break;
      default: setNav(''); replace(viewEl, h('h1', 'Not found'), h('p', 'No page at ', h('code', location.hash), '.'));
    }
  } catch (e) {
    if (ctx.ac.signal.aborted) return;
    replace(viewEl, h('h1', 'Something went wrong'), errorBox(e));
  }
  if (!ctx.ac.signal.aborted && (location.hash || '#/') === hash) document.body.dataset.ready = hash;
}

function footer() {
  const f = document.getElementById('foot-node');
  const bits = [node.version];
  if (node.build) bits.push(node.build);
  bits.push(node.roles.join(' · '));
  replace(f, h('strong', bits.join(' — ')));
}

function loading(title) {
  replace(viewEl, h('h1', title), h('p', {class: 'muted'}, 'Loading…'));
}

function roleBadges(roles) {
  return h('span', {class: 'roles'}, (roles || []).map((r) => badge(r, 'role role-' + r)));
}

function has(role) {
  return node && node.roles.includes(role);
}

// ---------------------------------------------------------------- overview

const metricsState = {last: null, history: new Map()};

async function overview(ctx) {
  const nodeCard = h('div');
  const figs = h('div', {class: 'figures'});
  const netBox = h('div');
  const procBox = h('div', h('p', {class: 'muted'}, 'Loading…'));
  replace(viewEl,
    h('div', {class: 'page-head'}, h('h1', 'This node'), roleBadges(node.roles)),
    h('div', {class: 'grid two'},
      card('Identity', nodeCard),
      card('Live figures', figs, h('p', {class: 'muted small'}, 'From this node\'s ', h('a', {href: '/metrics'}, '/metrics'), ', every 3 s.'))),
    card('Network', netBox),
    card('Newest processes', procBox));

  const drawNode = (info) => {
    replace(nodeCard, kv([
      ['Version', info.version + (info.build ? ' (' + info.build + ')' : '')],
      ['Roles', roleBadges(info.roles)],
      ['Wallet address', addressLink(info.address)],
      ['Peer id', info.peer_id ? idLink(info.peer_id, null, {full: true}) : h('span', {class: 'muted'}, 'no p2p host')],
      ['URL', h('span', {class: 'mono'}, info.url)],
      ['Listen addresses', info.listen_addrs && info.listen_addrs.length ? h('ul', {class: 'plain mono small'}, info.listen_addrs.map((a) => h('li', a))) : null],
      ['Uptime', duration(info.uptime_ms) + ' (since ' + new Date(info.started_ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC)'],
      ['Units', h('ul', {class: 'plain mono small'}, [['SU', info.su], ['CU', info.cu], ['MU', info.mu], ['Gateway', info.gateway]]
        .filter(([, u]) => u).map(([k, u]) => h('li', h('span', {class: 'unit'}, k), ' ', u)))],
    ]));
  };
  drawNode(node);

  const tiles = new Map();
  for (const f of FIGURES) {
    const val = h('div', {class: 'fig-value'}, '—');
    const spark = s('svg', {class: 'spark', viewBox: '0 0 120 28', preserveAspectRatio: 'none'});
    const tile = h('div', {class: 'fig', title: f.help}, h('div', {class: 'fig-label'}, f.label), val, spark);
    tiles.set(f.key, {tile, val, spark});
    figs.appendChild(tile);
  }
  const drawFigures = (m, now) => {
    for (const f of FIGURES) {
      const t = tiles.get(f.key);
      const v = figureSample(f, m, metricsState.last, now);
      t.tile.classList.toggle('absent', v === undefined);
      t.tile.classList.toggle('alarm', Boolean(f.alarm && v > 0));
      if (v === undefined) { t.val.textContent = '—'; continue; }
      let hist = metricsState.history.get(f.key);
      if (!hist) { hist = []; metricsState.history.set(f.key, hist); }
      if (v !== null) { hist.push(v); if (hist.length > 60) hist.shift(); }
      t.val.textContent = v === null ? '…' : (f.format ? f.format(v) : num(v));
      clear(t.spark);
      if (hist.length > 1) {
        const mx = Math.max(...hist, 1e-9);
        const pts = hist.map((y, i) => `${((i / (hist.length - 1)) * 120).toFixed(1)},${(26 - (y / mx) * 24).toFixed(1)}`).join(' ');
        t.spark.appendChild(s('polyline', {points: pts, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5}));
      }
    }
  };

  every(ctx, 3000, async () => {
    const [info, text] = await Promise.all([
      getJSON('api/node', ctx.ac.signal),
      fetch('/metrics', {signal: ctx.ac.signal, headers: {Accept: 'text/plain'}}).then((r) => (r.ok ? r.text() : '')),
    ]);
    node = info;
    drawNode(info);
    const now = performance.now();
    const m = parseMetrics(text);
    drawFigures(m, now);
    metricsState.last = {m, t: now};
    figs.dataset.samples = String(Number(figs.dataset.samples || 0) + 1);
  });

  every(ctx, 5000, async () => {
    const net = await getJSON('api/network', ctx.ac.signal);
    if (!net.available) {
      replace(netBox, h('p', {class: 'muted'}, 'This node runs no p2p host: it knows no other node.'));
      return;
    }
    const up = net.nodes.filter((n) => n.asked || n.self).length;
    replace(netBox,
      h('p', `${net.nodes.length} node${net.nodes.length === 1 ? '' : 's'} in the directory, ${net.links.length} connection${net.links.length === 1 ? '' : 's'}, ${up} answering. `,
        h('a', {href: '#/network'}, 'Open the network graph →')),
      networkGraph(net, {height: 320, compact: true}));
  });

  const ps = await getJSON('api/processes?limit=8', ctx.ac.signal);
  replace(procBox, ps.processes.length ? processTable(ps.processes) : h('p', {class: 'muted'}, 'This node holds no process yet.'),
    h('p', h('a', {href: '#/processes'}, 'All processes →')));
}

// ---------------------------------------------------------------- network

const netPositions = new Map();

// networkGraph draws the node directory: rings coloured by role, connections, and (unless
// compact) the processes each SU schedules. It keeps positions across refreshes.
function networkGraph(net, opts = {}) {
  const W = opts.width || 1100;
  const H = opts.height || 620;
  const showProcs = !opts.compact && opts.showProcesses;
  const byScheduler = new Map();
  for (const n of net.nodes) if (n.scheduler) byScheduler.set(n.scheduler, n.peer_id);
  const gnodes = net.nodes.map((n) => ({id: n.peer_id}));
  const gedges = net.links.map(([a, b]) => ({from: a, to: b}));
  const procs = [];
  if (showProcs) {
    for (const p of net.processes) {
      const sus = p.schedulers.map((a) => byScheduler.get(a)).filter(Boolean);
      if (sus.length === 0) continue;
      procs.push({p, sus});
      gnodes.push({id: 'p:' + p.id, light: true});
      for (const su of sus) gedges.push({from: 'p:' + p.id, to: su});
    }
  }
  noteSharedHost(net);
  const pos = layout(gnodes, gedges, {width: W, height: H, prev: netPositions});
  for (const [id, p] of pos) netPositions.set(id, {x: p.x, y: p.y});

  const svg = s('svg', {class: 'graph' + (opts.compact ? ' compact' : ''), role: 'img', 'aria-label': 'network graph'});
  svg.appendChild(markers());
  const R = net.nodes.length > 30 ? 13 : 17;
  const linkG = s('g', {class: 'links'});
  for (const [a, b] of net.links) {
    const pa = pos.get(a);
    const pb = pos.get(b);
    if (pa && pb) linkG.appendChild(s('line', {x1: pa.x, y1: pa.y, x2: pb.x, y2: pb.y, class: 'link'}));
  }
  svg.appendChild(linkG);
  if (showProcs) {
    const pg = s('g', {class: 'procs'});
    for (const {p, sus} of procs) {
      const pp = pos.get('p:' + p.id);
      for (const su of sus) {
        const ps = pos.get(su);
        pg.appendChild(s('line', {x1: pp.x, y1: pp.y, x2: ps.x, y2: ps.y, class: 'sched-link'}));
      }
      const leader = opts.leaders && opts.leaders.get(p.id);
      const a = s('a', {href: route('/process/' + p.id)},
        s('title', (p.name ? p.name + ' ' : '') + p.id + (sus.length > 1 ? ` (${sus.length} schedulers)` : '')),
        s('rect', {x: pp.x - 6, y: pp.y - 6, width: 12, height: 12, rx: 2, class: 'proc' + (sus.length > 1 ? ' multi' : '')}),
        s('text', {x: pp.x + 9, y: pp.y + 4, class: 'proc-label'}, p.name || short(p.id, 4)));
      if (leader) a.appendChild(s('text', {x: pp.x - 4, y: pp.y - 9, class: 'leader-mark'}, '★'));
      pg.appendChild(a);
    }
    svg.appendChild(pg);
  }
  const leaderNodes = new Set(opts.leaderNodes || []);
  const nodeG = s('g', {class: 'nodes'});
  for (const n of net.nodes) {
    const p = pos.get(n.peer_id);
    if (!p) continue;
    const label = nodeLabel(n);
    const g = s('g', {class: 'node' + (n.self ? ' self' : '') + (!n.asked && !n.self ? ' unreachable' : '') + (opts.selected === n.peer_id ? ' selected' : ''), tabindex: 0});
    g.appendChild(s('title', `${label}\n${n.peer_id}\nroles: ${(n.roles || []).join(', ') || 'none'}${n.error ? '\n' + n.error : ''}`));
    if (n.self) g.appendChild(s('circle', {cx: p.x, cy: p.y, r: R + 6, class: 'self-halo'}));
    g.appendChild(roleRing(p.x, p.y, R, n.roles));
    g.appendChild(s('text', {x: p.x, y: p.y + 4, class: 'node-initial'}, (n.roles || []).map((r) => r[0].toUpperCase()).join('') || '?'));
    if (leaderNodes.has(n.peer_id)) g.appendChild(s('text', {x: p.x + R - 2, y: p.y - R + 2, class: 'leader-mark'}, '★'));
    if (!opts.compact || net.nodes.length <= 12) g.appendChild(s('text', {x: p.x, y: p.y + R + 14, class: 'node-label'}, label));
    if (opts.onSelect) {
      g.addEventListener('click', () => opts.onSelect(n));
      g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') opts.onSelect(n); });
    } else {
      g.addEventListener('click', () => { location.hash = route('/network', {node: n.peer_id}); });
    }
    nodeG.appendChild(g);
  }
  svg.appendChild(nodeG);
  const reset = panZoom(svg, W, H);
  const wrap = h('div', {class: 'graph-wrap'}, svg);
  if (!opts.compact) {
    wrap.appendChild(h('div', {class: 'legend'},
      Object.entries(ROLE_COLORS).filter(([r]) => net.nodes.some((n) => (n.roles || []).includes(r)))
        .map(([r, c]) => h('span', {class: 'legend-item'}, swatch(c, 'ring'), r.toUpperCase())),
      showProcs ? h('span', {class: 'legend-item'}, swatch('#0ea5e9', 'square'), 'process → its SU') : null,
      h('span', {class: 'legend-item'}, '★ Raft leader'),
      h('span', {class: 'legend-item'}, swatch('#cbd5e1', 'dash'), 'not answering'),
      h('button', {type: 'button', class: 'small-btn', on: {click: reset}}, 'Reset zoom')));
  }
  return wrap;
}

function swatch(color, shape) {
  const svg = s('svg', {width: 14, height: 14, viewBox: '0 0 14 14', class: 'swatch'});
  if (shape === 'square') svg.appendChild(s('rect', {x: 2, y: 2, width: 10, height: 10, rx: 2, fill: color}));
  else if (shape === 'fill') svg.appendChild(s('circle', {cx: 7, cy: 7, r: 6, fill: color}));
  else if (shape === 'dash') svg.appendChild(s('circle', {cx: 7, cy: 7, r: 5, fill: 'none', stroke: color, 'stroke-width': 2, 'stroke-dasharray': '2 2'}));
  else svg.appendChild(s('circle', {cx: 7, cy: 7, r: 5, fill: 'none', stroke: color, 'stroke-width': 3}));
  return svg;
}

// nodeLabel names a node by its URL's host and port; on a network whose nodes share one host
// (a local testnet) by its port alone.
let sharedHost = '';

function nodeLabel(n) {
  if (n.url) {
    try {
      const u = new URL(n.url);
      return sharedHost && u.hostname === sharedHost ? ':' + u.port : u.host;
    } catch (_) { /* not a URL */ }
  }
  return short(n.peer_id, 4);
}

function noteSharedHost(net) {
  const hosts = new Set();
  for (const n of net.nodes) {
    try { hosts.add(new URL(n.url).hostname); } catch (_) { hosts.add(''); }
  }
  sharedHost = hosts.size === 1 && net.nodes.length > 1 ? [...hosts][0] : '';
}

async function networkView(ctx, q) {
  loading('Network');
  let selected = q.get('node') || '';
  let showProcesses = q.get('processes') !== '0';
  let net = null;
  const graphBox = h('div');
  const side = h('div', {class: 'side'});
  const tableBox = h('div');
  const raftBox = h('div');
  const evidenceBox = h('div');
  const toggle = h('input', {type: 'checkbox', id: 'show-procs'});
  toggle.checked = showProcesses;
  toggle.addEventListener('change', () => { showProcesses = toggle.checked; draw(); });
  const summary = h('p', {class: 'muted'});
  replace(viewEl,
    h('div', {class: 'page-head'}, h('h1', 'Network'),
      h('label', {class: 'toggle'}, toggle, ' show processes')),
    summary,
    h('div', {class: 'graph-layout'}, card(null, graphBox), side),
    raftBox, evidenceBox,
    card('Nodes', tableBox));

  if (!has('su')) raftBox.hidden = true;
  let leaders = new Map(); // process id → leader address
  let leaderNodes = [];

  const select = (n) => {
    selected = n.peer_id;
    history.replaceState(null, '', route('/network', {node: n.peer_id, processes: showProcesses ? '' : '0'}));
    draw();
  };
  const draw = () => {
    if (!net) return;
    replace(graphBox, networkGraph(net, {showProcesses, selected, onSelect: select, leaders, leaderNodes}));
    const n = net.nodes.find((x) => x.peer_id === selected) || net.nodes.find((x) => x.self);
    replace(side, n ? nodeCard(n, net) : card('Node', h('p', {class: 'muted'}, 'Click a node.')));
  };

  const refresh = async () => {
    net = await getJSON('api/network', ctx.ac.signal);
    if (!net.available) {
      replace(viewEl, h('h1', 'Network'), h('p', 'This node runs no p2p host, so it knows no other node. Start it with p2p (', h('code', 'aonode run --config'), ' or ', h('code', 'aonode testnet'), ').'));
      return false;
    }
    const answering = net.nodes.filter((n) => n.asked || n.self).length;
    summary.textContent = `${net.nodes.length} nodes in this node's directory, ${net.links.length} connections, ${answering} answering; refreshed ${new Date(net.updated_ms).toLocaleTimeString()}.` +
      (net.truncated ? ' Only the nearest nodes were asked for their connections.' : '');
    draw();
    replace(tableBox, nodeTable(net, select));
    return true;
  };
  if (!(await refresh())) return;
  ctx.timers.push(setTimeout(() => every(ctx, 5000, refresh), 5000));

  // Raft groups: the processes with several schedulers, as this node's SU sees them.
  if (has('su')) {
    const multi = net.processes.filter((p) => p.schedulers.length > 1).slice(0, 20);
    const rows = [];
    await Promise.all(multi.map(async (p) => {
      const g = await optionalJSON('/su/consensus/' + encodeURIComponent(p.id), ctx.ac.signal).catch(() => null);
      if (g) rows.push({p, g});
    }));
    if (rows.length) {
      const byAddr = new Map(net.nodes.filter((n) => n.scheduler).map((n) => [n.scheduler, n]));
      leaders = new Map(rows.filter((r) => r.g.leader).map((r) => [r.p.id, r.g.leader]));
      leaderNodes = rows.map((r) => byAddr.get(r.g.leader)).filter(Boolean).map((n) => n.peer_id);
      replace(raftBox, card('Raft groups', raftTable(rows.map((r) => r.g), byAddr, true)));
      draw();
    } else {
      raftBox.hidden = true;
    }
  }
  const ev = await optionalJSON('/su/evidence', ctx.ac.signal, {anyStatus: true}).catch(() => null);
  if (ev !== null && ev !== undefined) replace(evidenceBox, evidenceCard(ev));
}

function nodeCard(n, net) {
  const deg = net.links.filter(([a, b]) => a === n.peer_id || b === n.peer_id).length;
  const sched = n.scheduler ? net.processes.filter((p) => p.schedulers.includes(n.scheduler)) : [];
  let explorerURL = null;
  if (n.url && !n.self) {
    try { explorerURL = new URL('/explorer/', n.url).href; } catch (_) { explorerURL = null; }
  }
  return card(n.self ? 'This node' : 'Node',
    kv([
      ['Peer id', idLink(n.peer_id, null, {n: 8})],
      ['Roles', roleBadges(n.roles)],
      ['URL', n.url ? h('span', {class: 'mono small'}, n.url) : null],
      ['Wallet', n.address ? addressLink(n.address) : null],
      ['Scheduler', n.scheduler ? addressLink(n.scheduler) : null],
      ['Version', n.version || null],
      ['Connections', String(deg)],
      ['Status', n.self ? badge('this node', 'ok') : n.asked ? badge('answering', 'ok') : badge(n.error || 'not asked', 'warn')],
    ]),
    explorerURL ? h('p', h('a', {href: explorerURL, rel: 'noopener noreferrer'}, 'Open its explorer →')) : null,
    sched.length ? h('div', h('h3', 'Processes it schedules (newest known here)'),
      h('ul', {class: 'plain'}, sched.slice(0, 12).map((p) => h('li', processLink(p.id, p.name))))) : null);
}

function nodeTable(net, onSelect) {
  const deg = new Map();
  for (const [a, b] of net.links) { deg.set(a, (deg.get(a) || 0) + 1); deg.set(b, (deg.get(b) || 0) + 1); }
  return h('div', {class: 'table-wrap'}, h('table', {class: 'list'},
    h('thead', h('tr', ['Node', 'Peer id', 'Roles', 'Scheduler', 'Links', 'Status'].map((t) => h('th', t)))),
    h('tbody', net.nodes.map((n) => h('tr', {class: n.self ? 'self-row' : ''},
      h('td', h('a', {href: route('/network', {node: n.peer_id}), on: {click: (ev) => { ev.preventDefault(); onSelect(n); window.scrollTo({top: 0, behavior: 'smooth'}); }}}, nodeLabel(n))),
      h('td', idLink(n.peer_id, null, {n: 6})),
      h('td', roleBadges(n.roles)),
      h('td', n.scheduler ? addressLink(n.scheduler) : h('span', {class: 'muted'}, '—')),
      h('td', {class: 'num'}, String(deg.get(n.peer_id) || 0)),
      h('td', n.self ? badge('self', 'ok') : n.asked ? badge('ok', 'ok') : h('span', {class: 'badge warn', title: n.error || ''}, 'no answer')))))));
}

function raftTable(groups, byAddr, withProcess) {
  const member = (a, g) => {
    const n = byAddr && byAddr.get(a);
    return h('li', a === g.leader ? badge('leader', 'ok') : null, ' ', addressLink(a), n ? h('span', {class: 'muted small'}, ' ' + nodeLabel(n)) : null);
  };
  return h('div', {class: 'table-wrap'}, h('table', {class: 'list'},
    h('thead', h('tr', [withProcess ? 'Process' : null, 'Group', 'Members', 'Term', 'Commit index', 'Last nonce'].filter(Boolean).map((t) => h('th', t)))),
    h('tbody', groups.map((g) => h('tr',
      withProcess ? h('td', processLink(g.process)) : null,
      h('td', idLink(String(g.group || ''), null, {n: 5})),
      h('td', h('ul', {class: 'plain'}, (g.members || []).map((a) => member(a, g))), g.leader ? null : h('div', badge('no leader', 'warn'))),
      h('td', {class: 'num'}, num(g.term)),
      h('td', {class: 'num'}, num(g.commit_index)),
      h('td', {class: 'num'}, num(g.last_nonce)))))));
}

function evidenceCard(ev) {
  const list = Array.isArray(ev) ? ev : Array.isArray(ev.evidence) ? ev.evidence : Array.isArray(ev.items) ? ev.items : null;
  if (!list) return card('Equivocation evidence', pre(JSON.stringify(ev, null, 2), 'json'));
  if (list.length === 0) return card('Equivocation evidence', h('p', badge('none', 'ok'), ' No SU of a process has signed two different assignments for one slot, as far as this node has seen.'));
  return card('Equivocation evidence',
    h('p', badge(list.length + ' found', 'bad'), ' Two valid assignments for one slot, signed by members of the process\'s scheduler set.'),
    list.slice(0, 50).map((e) => h('details', {class: 'evidence'},
      h('summary', e && typeof e === 'object' ? [e.process ? ['process ', short(e.process)] : null, e.nonce !== undefined ? [' nonce ', String(e.nonce)] : null, e.signer ? [' by ', short(e.signer)] : null] : String(e)),
      pre(JSON.stringify(e, null, 2), 'json'))));
}

// ---------------------------------------------------------------- processes

const FILTERS = [['name', 'Name'], ['module', 'Module'], ['owner', 'Owner'], ['scheduler', 'Scheduler'], ['from-process', 'Spawned by']];

async function processesView(ctx, q) {
  loading('Processes');
  const field = h('select', {'aria-label': 'Filter field'}, FILTERS.map(([k, label]) => h('option', {value: k}, label)));
  const value = h('input', {type: 'text', placeholder: 'exact value', spellcheck: 'false', 'aria-label': 'Filter value'});
  for (const [k] of FILTERS) if (q.get(k)) { field.value = k; value.value = q.get(k); }
  const form = h('form', {class: 'filter'}, h('span', 'Filter by '), field, value, h('button', {type: 'submit'}, 'Apply'),
    h('a', {href: '#/processes', class: 'small-btn'}, 'Clear'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = route('/processes', {[field.value]: value.value.trim()});
  });
  const params = new URLSearchParams();
  for (const [k] of FILTERS) if (q.get(k)) params.set(k, q.get(k));
  if (q.get('after')) params.set('after', q.get('after'));
  params.set('limit', '50');
  const ps = await getJSON('api/processes?' + params.toString(), ctx.ac.signal);
  const filters = FILTERS.filter(([k]) => q.get(k)).map(([k, label]) => h('span', {class: 'chip'}, label + ' = ', h('span', {class: 'mono'}, short(q.get(k), 10))));
  const base = {};
  for (const [k] of FILTERS) if (q.get(k)) base[k] = q.get(k);
  replace(viewEl,
    h('div', {class: 'page-head'}, h('h1', 'Processes'), h('span', {class: 'muted'}, 'held by this node, newest first')),
    form,
    filters.length ? h('p', filters) : null,
    card(null, ps.processes.length ? processTable(ps.processes) : h('p', {class: 'muted'}, q.get('after') ? 'No more processes.' : 'No process matches.'),
      h('div', {class: 'pager'},
        q.get('after') ? h('a', {href: route('/processes', base), class: 'small-btn'}, '⇤ Newest') : null,
        ps.next ? h('a', {href: route('/processes', {...base, after: ps.next}), class: 'small-btn'}, 'Older →') : null)));
}

function processTable(list) {
  return h('div', {class: 'table-wrap'}, h('table', {class: 'list'},
    h('thead', h('tr', ['Process', 'Module', 'Owner', 'Schedulers', 'Slots', 'Evaluated', 'Last activity'].map((t) => h('th', t)))),
    h('tbody', list.map((p) => h('tr',
      h('td', processLink(p.id, p.name)),
      h('td', idLink(p.module, route('/processes', {module: p.module}), {n: 4, copy: false})),
      h('td', idLink(p.owner, route('/processes', {owner: p.owner}), {n: 4, copy: false})),
      h('td', p.schedulers.map((a) => h('div', idLink(a, route('/processes', {scheduler: a}), {n: 4, copy: false})))),
      h('td', {class: 'num'}, p.last_nonce === null ? h('span', {class: 'muted', title: 'this node\'s SU holds none of its slots'}, '—') : num(p.slots)),
      h('td', {class: 'num'}, p.evaluated === null ? h('span', {class: 'muted', title: 'this node\'s CU has computed none of it'}, '—') : num(p.evaluated)),
      h('td', when(p.last_activity_ms)))))));
}

// ---------------------------------------------------------------- process

async function processView(ctx, pid, q) {
  if (!isID(pid)) { replace(viewEl, h('h1', 'Process'), errorBox('not a process id: ' + pid)); return; }
  loading('Process');
  let p;
  try {
    p = await getJSON('api/process/' + pid, ctx.ac.signal);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    const where = h('p', 'This node does not hold the process. ', h('a', {href: route('/search', {q: pid})}, 'Search for it'), '.');
    replace(viewEl, h('h1', 'Process'), h('p', idLink(pid, null, {full: true})), errorBox(e), where);
    // The network view may know which node schedules it.
    const net = await getJSON('api/network', ctx.ac.signal).catch(() => null);
    const known = net && net.processes.find((x) => x.id === pid);
    if (known) {
      noteSharedHost(net);
      const nodes = net.nodes.filter((n) => n.url && known.schedulers.includes(n.scheduler));
      if (nodes.length) {
        where.appendChild(h('span', ' Its scheduler', nodes.length > 1 ? 's run' : ' runs', ' on ',
          nodes.map((n, i) => [i ? ', ' : '', h('a', {href: explorerOf(n.url, '#/process/' + pid), rel: 'noopener noreferrer'}, nodeLabel(n))]), '.'));
      }
    }
    return;
  }
  const graphBox = h('div', h('p', {class: 'muted'}, 'Loading…'));
  const raftBox = h('div');
  const slotsBox = h('div', h('p', {class: 'muted'}, 'Loading…'));
  replace(viewEl,
    h('div', {class: 'page-head'}, h('h1', p.name || 'Process'), badge('process', 'kind'),
      p.schedulers.length > 1 ? badge(p.schedulers.length + ' schedulers', 'info') : null),
    h('p', {class: 'bigid'}, idLink(pid, null, {full: true})),
    h('div', {class: 'grid two'},
      card('Overview', kv([
        ['Module', idLink(p.module, route('/search', {q: p.module}))],
        ['Owner', addressLink(p.owner)],
        ['Schedulers', h('ul', {class: 'plain'}, p.scheduler_nodes.map((sv) => h('li', addressLink(sv.address),
          sv.self ? badge('this node', 'ok') : null,
          !sv.self && sv.url ? h('a', {class: 'small', href: explorerOf(sv.url, '#/process/' + pid), rel: 'noopener noreferrer'}, ' its explorer →') : null)))],
        ['Spawned by', p.from_process ? processLink(p.from_process) : null],
        ['Created', p.created_ms ? when(p.created_ms) : null],
        ['Slots here', p.last_nonce === null ? h('span', {class: 'muted'}, 'this node\'s SU holds none') : num(p.slots)],
        ['Computed here', p.evaluated === null ? h('span', {class: 'muted'}, 'not by this node\'s CU') : ['up to slot ', num(p.evaluated)]],
        ['Last activity', when(p.last_activity_ms)],
        ['Signature', p.item ? [p.item.signature_name, ' ', p.item.verified ? badge('verified', 'ok') : badge('does not verify', 'bad')] : null],
      ])),
      card('Tags', tagTable(p.item ? p.item.tags : []))),
    h('div', {class: 'grid two'}, cronCard(p), raftBox),
    card('Processes around it', graphBox),
    card('Slots', slotsBox));

  optionalJSON('/su/consensus/' + pid, ctx.ac.signal).then((g) => {
    if (g) replace(raftBox, card('Raft group', raftTable([g], null, false)));
    else if (p.schedulers.length > 1) replace(raftBox, card('Raft group', h('p', {class: 'muted'}, 'Not available on this node.')));
    else raftBox.hidden = true;
  }).catch((e) => replace(raftBox, card('Raft group', errorBox(e))));

  getJSON('api/process/' + pid + '/graph', ctx.ac.signal)
    .then((g) => replace(graphBox, g.nodes.length > 1 ? processGraph(g)
      : h('p', {class: 'muted'}, `No process spawned it, was spawned by it or exchanged messages with it, among its newest ${num(g.scanned_results)} results and ${num(g.scanned_slots)} slots.`)))
    .catch((e) => { if (!ctx.ac.signal.aborted) replace(graphBox, errorBox(e)); });

  await slotsSection(ctx, pid, q, slotsBox);
}

function explorerOf(base, hash) {
  try { return new URL('/explorer/' + hash, base).href; } catch (_) { return '#/'; }
}

function cronCard(p) {
  const c = p.cron;
  if (!c.interval && !c.monitored && c.tags.length === 0) return h('div', {hidden: true});
  return card('Cron', kv([
    ['Interval', c.interval || h('span', {class: 'muted'}, 'none')],
    ['Monitored by this MU', c.monitored ? badge('yes', 'ok') : badge('no', 'muted')],
    ['Last cron message', c.last_cron_ms ? [when(c.last_cron_ms), ' ', h('span', {class: 'mono small'}, c.last_cron)] : h('span', {class: 'muted'}, 'none among the newest results')],
  ]), c.tags.length ? tagTable(c.tags) : null);
}

const REL_COLOR = {self: '#0f172a', parent: '#7c3aed', child: '#a855f7', peer: '#0ea5e9'};

function processGraph(g) {
  const W = 1000;
  const H = g.nodes.length <= 4 ? 260 : g.nodes.length <= 12 ? 340 : 440;
  const pins = {[g.center]: {x: W / 2, y: H / 2}};
  const nodes = g.nodes.map((n) => ({id: n.id, pin: pins[n.id]}));
  const pos = layout(nodes, g.edges, {width: W, height: H});
  const svg = s('svg', {class: 'graph pgraph', role: 'img', 'aria-label': 'process graph'});
  svg.style.aspectRatio = `${W} / ${H}`;
  svg.appendChild(markers());
  const pairs = new Set(g.edges.map((e) => e.from + '>' + e.to));
  const eg = s('g', {class: 'edges'});
  for (const e of g.edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    const ra = e.from === g.center ? 22 : 12;
    const rb = e.to === g.center ? 24 : 14;
    const bend = pairs.has(e.to + '>' + e.from) ? 18 : 0;
    const {d, mx, my} = edgePath(a, b, ra, rb, bend);
    const path = s('path', {d, class: 'edge edge-' + e.kind, 'marker-end': `url(#arrow-${e.kind})`, stroke: EDGE_COLORS[e.kind] || '#94a3b8'});
    path.appendChild(s('title', `${e.kind}${e.count > 1 ? ' ×' + e.count : ''}`));
    eg.appendChild(path);
    if (e.count > 1) eg.appendChild(s('text', {x: mx, y: my - 3, class: 'edge-count'}, '×' + e.count));
  }
  svg.appendChild(eg);
  const ng = s('g', {class: 'pnodes'});
  for (const n of g.nodes) {
    const p = pos.get(n.id);
    const r = n.id === g.center ? 20 : 12;
    const a = s('a', {href: route('/process/' + n.id), class: 'pnode rel-' + n.relation + (n.held ? '' : ' not-held')},
      s('title', `${n.name ? n.name + '\n' : ''}${n.id}\n${n.relation}${n.held ? '' : ' (not held by this node)'}`),
      s('circle', {cx: p.x, cy: p.y, r, fill: REL_COLOR[n.relation] || '#64748b'}),
      s('text', {x: p.x, y: p.y + r + 14, class: 'node-label'}, n.name || short(n.id, 4)));
    ng.appendChild(a);
  }
  svg.appendChild(ng);
  panZoom(svg, W, H);
  const counts = {};
  for (const e of g.edges) counts[e.kind] = (counts[e.kind] || 0) + e.count;
  return h('div', {class: 'graph-wrap'}, svg,
    h('div', {class: 'legend'},
      ['spawn', 'message', 'assignment'].map((k) => h('span', {class: 'legend-item'}, h('span', {class: 'edge-swatch edge-' + k}), k + (counts[k] ? ` (${counts[k]})` : ''))),
      h('span', {class: 'legend-item'}, swatch(REL_COLOR.child, 'fill'), 'spawned'),
      h('span', {class: 'legend-item'}, swatch(REL_COLOR.peer, 'fill'), 'talks with'),
      h('span', {class: 'muted small'}, `From the newest ${num(g.scanned_results)} results and ${num(g.scanned_slots)} slots${g.partial ? ' (there are more)' : ''}. Click a process to open it.`)));
}

async function slotsSection(ctx, pid, q, box) {
  const params = new URLSearchParams({limit: '50'});
  if (q.get('before')) params.set('before', q.get('before'));
  if (q.get('at')) params.set('at', q.get('at'));
  let page;
  try {
    page = await getJSON(`api/process/${pid}/slots?` + params.toString(), ctx.ac.signal);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      replace(box, h('p', {class: 'muted'}, 'This node\'s SU holds no slots of this process.'));
      return;
    }
    throw e;
  }
  const jump = h('input', {type: 'number', min: 0, max: page.last_nonce, placeholder: 'nonce', class: 'narrow', 'aria-label': 'Go to nonce'});
  const jumpForm = h('form', {class: 'inline'}, 'Go to slot ', jump, h('button', {type: 'submit'}, 'Go'));
  jumpForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (jump.value !== '') location.hash = route('/process/' + pid, {at: jump.value});
  });
  const pager = () => h('div', {class: 'pager'},
    page.newer !== null ? h('a', {class: 'small-btn', href: route('/process/' + pid)}, '⇤ Newest') : null,
    page.newer !== null ? h('a', {class: 'small-btn', href: route('/process/' + pid, {before: page.newer})}, '← Newer') : null,
    page.older !== null ? h('a', {class: 'small-btn', href: route('/process/' + pid, {before: page.older})}, 'Older →') : null,
    page.older !== null ? h('a', {class: 'small-btn', href: route('/process/' + pid, {before: Math.min(page.slots.length || 50, page.last_nonce + 1)})}, 'Oldest ⇥') : null);
  const first = page.slots.length ? page.slots[page.slots.length - 1].nonce : 0;
  const lastShown = page.slots.length ? page.slots[0].nonce : 0;
  const agreeHead = h('th', {hidden: true}, 'Agreement');
  const rows = page.slots.map((r) => slotRow(pid, r));
  replace(box,
    h('div', {class: 'slots-head'},
      h('span', `Slots ${num(first)}–${num(lastShown)} of ${num(page.last_nonce + 1)}, newest first.`),
      jumpForm),
    pager(),
    h('div', {class: 'table-wrap'}, h('table', {class: 'list slots'},
      h('thead', h('tr', ['Nonce', 'Message', 'Action', 'From', 'Time', 'Signer', 'Chain', 'Result', 'Output'].map((t) => h('th', t)), agreeHead)),
      h('tbody', rows.map((r) => r.tr)))),
    pager());

  // Attestation agreement per slot, where the CU compares results: probed on the newest row.
  if (!has('cu') || rows.length === 0) return;
  const probe = await optionalJSON(`/cu/agreement/${pid}?slot=${rows[0].row.nonce}`, ctx.ac.signal).catch(() => null);
  if (!probe) return;
  agreeHead.hidden = false;
  for (const r of rows) r.agree.hidden = false;
  const fill = async (r, g) => {
    if (!g) { r.agree.textContent = '—'; return; }
    const n = (g.attestations || []).length;
    replace(r.agree, badge(g.agree ? `agree (${n})` : `disagree (${n})`, g.agree ? 'ok' : 'bad'));
  };
  fill(rows[0], probe);
  const rest = rows.slice(1);
  for (let i = 0; i < rest.length; i += 4) {
    await Promise.all(rest.slice(i, i + 4).map(async (r) => {
      const g = await optionalJSON(`/cu/agreement/${pid}?slot=${r.row.nonce}`, ctx.ac.signal).catch(() => null);
      fill(r, g);
    }));
    if (ctx.ac.signal.aborted) return;
  }
}

function slotRow(pid, r) {
  const res = r.result;
  let resultCell;
  if (!res.evaluated) resultCell = h('span', {class: 'muted', title: 'this node\'s CU has not computed it'}, '—');
  else if (res.error) resultCell = badge('error', 'bad');
  else resultCell = badge('ok', 'ok');
  const out = [];
  if (res.error_text) out.push(h('span', {class: 'err-text'}, res.error_text));
  else if (res.output) out.push(h('span', {class: 'out-text'}, res.output));
  const counts = [];
  if (res.messages) counts.push(badge('↗ ' + res.messages, 'count'));
  if (res.spawns) counts.push(badge('✚ ' + res.spawns, 'count spawn'));
  if (res.assignments) counts.push(badge('⇢ ' + res.assignments, 'count'));
  const agree = h('td', {hidden: true, class: 'agree'}, '…');
  const tr = h('tr', {class: r.chain_ok ? '' : 'chain-bad'},
    h('td', {class: 'num'}, h('a', {href: route('/message/' + r.message, {process: pid})}, String(r.nonce))),
    h('td', messageLink(r.message, pid)),
    h('td', r.nonce === 0 ? badge('Process', 'kind') : r.action ? h('span', {class: 'action', title: r.action}, r.action) : h('span', {class: 'muted'}, r.type || '—'),
      r.assigned ? badge('assigned', 'info') : null),
    h('td', r.from ? (isID(r.from) ? idLink(r.from, route('/search', {q: r.from}), {n: 4, copy: false}) : h('span', {class: 'mono small', title: r.from}, short(r.from, 6))) : '—'),
    h('td', when(r.timestamp_ms)),
    h('td', idLink(r.signer, route('/search', {q: r.signer}), {n: 4, copy: false})),
    h('td', r.chain_ok ? h('span', {class: 'ok-mark', title: 'hash chain and assignment signature check out'}, '✓') : h('span', {class: 'bad-mark', title: r.chain_error || ''}, '✗')),
    h('td', resultCell, ' ', counts),
    h('td', {class: 'output'}, out),
    agree);
  return {tr, row: r, agree};
}

// ---------------------------------------------------------------- message

async function messageView(ctx, id, q) {
  if (!isID(id)) { replace(viewEl, h('h1', 'Message'), errorBox('not an id: ' + id)); return; }
  loading('Message');
  const pid = q.get('process') || '';
  const m = await getJSON('api/message/' + id + (pid ? '?process=' + encodeURIComponent(pid) : ''), ctx.ac.signal);
  const it = m.item;
  const isProcess = it && it.id === m.process;
  const action = it ? (it.tags.find((t) => t.name === 'Action') || {}).value : '';
  const resultBox = h('div');
  const agreeBox = h('div');
  replace(viewEl,
    h('div', {class: 'page-head'}, h('h1', isProcess ? 'Process item' : 'Message'), action ? badge(action, 'action-badge') : null,
      m.slot ? badge('slot ' + m.slot.nonce, 'info') : null),
    h('p', {class: 'bigid'}, idLink(m.id, null, {full: true})),
    h('div', {class: 'grid two'},
      card('Item', it ? [kv([
        ['Process', m.process ? processLink(m.process) : null],
        ['From', it.from ? (isID(it.from) ? addressLink(it.from) : h('span', {class: 'mono'}, it.from)) : null],
        ['Owner', addressLink(it.owner)],
        ['Target', it.target ? idLink(it.target, route('/process/' + it.target)) : null],
        ['Signature', [it.signature_name, ' ', it.verified ? badge('verified', 'ok') : badge('does not verify', 'bad')]],
        ['Anchor', it.anchor ? h('span', {class: 'mono small'}, it.anchor) : null],
        ['Pushed for', m.pushed_for && m.pushed_for !== m.id ? messageLink(m.pushed_for) : null],
        ['Data', bytes(it.data_size) + (it.data_text ? '' : ' (binary)')],
      ]), h('h3', 'Tags'), tagTable(it.tags), h('h3', 'Data'),
      it.data_size === 0 ? h('p', {class: 'muted'}, 'empty') : pre(it.data_preview, it.data_text ? 'text data' : 'hex data'),
      it.data_truncated ? h('p', {class: 'muted small'}, 'The first 4 KiB. ', h('a', {href: '/raw/' + m.id}, 'The whole item')) : null]
        : h('p', {class: 'muted'}, 'This node does not hold the item itself.')),
      card('Assignment', m.slot ? assignmentPanel(m) : h('p', {class: 'muted'}, 'This node\'s SU holds no slot for it.'))),
    resultBox,
    agreeBox);

  if (m.result) {
    replace(resultBox, resultCard(m));
  } else if (m.process && has('cu') && !isProcess) {
    const btn = h('button', {type: 'button'}, 'Compute it with this node\'s CU');
    const out = h('div');
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      replace(out, h('p', {class: 'muted'}, 'Computing…'));
      try {
        const r = await getJSON(`/cu/result/${m.id}?process-id=${m.process}`, ctx.ac.signal);
        replace(out, rawResult(r));
      } catch (e) {
        replace(out, errorBox(e));
      }
      btn.disabled = false;
    });
    replace(resultBox, card('Result', h('p', {class: 'muted'}, 'This node\'s CU has not computed this message yet.'), btn, out));
  } else if (!isProcess) {
    replace(resultBox, card('Result', h('p', {class: 'muted'}, 'No result on this node (it runs no CU, or the process is not held here).')));
  }

  if (m.process && m.slot) {
    const g = await optionalJSON(`/cu/agreement/${m.process}?message=${m.id}`, ctx.ac.signal).catch(() => null);
    if (g) replace(agreeBox, agreementCard(g));
  }
}

function assignmentPanel(m) {
  const sl = m.slot;
  const a = sl.assignment;
  return [kv([
    ['Nonce', num(sl.nonce)],
    ['Timestamp', [when(sl.timestamp_ms), h('span', {class: 'muted small'}, ' ' + sl.timestamp_ms)]],
    ['Block height', num(sl.block_height)],
    ['Hash chain', [h('span', {class: 'mono small'}, sl.hash_chain), ' ', sl.chain_ok ? badge('follows', 'ok') : badge('broken', 'bad')]],
    ['Why', sl.chain_error ? h('span', {class: 'err-text'}, sl.chain_error) : null],
    ['Assignment', a ? idLink(a.id) : h('span', {class: 'muted'}, 'not stored')],
    ['Signed by', a ? [addressLink(a.owner), ' ', a.verified ? badge('verified', 'ok') : badge('does not verify', 'bad')] : null],
  ]), a ? h('details', h('summary', 'Assignment tags'), tagTable(a.tags)) : null];
}

function resultCard(m) {
  const r = m.result;
  const raw = r.raw || {};
  const body = [];
  body.push(kv([
    ['Slot', num(r.nonce)],
    ['Outcome', r.summary.error ? badge('error', 'bad') : badge('ok', 'ok')],
    ['Gas used', r.summary.gas_used ? num(r.summary.gas_used) : null],
    ['Size', bytes(r.size)],
  ]));
  const output = outputText(raw.Output);
  body.push(h('h3', 'Output'), output ? pre(output, 'text output') : h('p', {class: 'muted'}, 'none'));
  const err = outputText(raw.Error);
  if (err) body.push(h('h3', 'Error'), pre(err, 'text error'));
  if (r.truncated) body.push(h('p', {class: 'muted'}, 'The result is too large to show here: ', h('a', {href: `/cu/result/${m.id}?process-id=${m.process}`}, 'read it from the CU'), '.'));
  body.push(h('h3', 'What it sent'), outboxList(m));
  if (r.raw) body.push(h('details', h('summary', 'The result as the CU serves it'), pre(JSON.stringify(r.raw, null, 2), 'json')));
  const cards = [card('Result', body)];
  if (r.attestation) cards.push(attestationCard(r.attestation));
  return h('div', {class: 'grid two wide-left'}, cards);
}

function rawResult(r) {
  return [h('h3', 'Output'), pre(outputText(r.Output) || '(none)', 'text output'),
    outputText(r.Error) ? [h('h3', 'Error'), pre(outputText(r.Error), 'text error')] : null,
    h('details', h('summary', 'The whole result'), pre(JSON.stringify(r, null, 2), 'json'))];
}

// outputText is what a person reads of an Output or Error: a string as it is; aos's
// {data: …} and {output: …} by their content; anything else as indented JSON.
function outputText(o) {
  if (o === undefined || o === null || o === '') return '';
  if (typeof o === 'string') return o;
  if (typeof o === 'number' || typeof o === 'boolean') return String(o);
  if (typeof o === 'object' && !Array.isArray(o)) {
    for (const k of ['data', 'output']) {
      if (o[k] !== undefined && o[k] !== null) return outputText(o[k]);
    }
  }
  const t = JSON.stringify(o, null, 2);
  return t === '{}' || t === '[]' ? '' : t;
}

function outboxList(m) {
  if (!m.outbox.length) return h('p', {class: 'muted'}, 'Nothing: no messages, spawns or assignments.');
  return h('ul', {class: 'outbox'}, m.outbox.map((e) => {
    if (e.kind === 'message') {
      return h('li', badge('message', 'k-message'), ' ', e.action ? h('strong', e.action) : h('span', {class: 'muted'}, '(no Action)'),
        ' → ', e.target ? (isID(e.target) ? processLink(e.target) : h('span', {class: 'mono'}, e.target)) : '?',
        ' ', e.id ? ['as ', messageLink(e.id, e.target), e.nonce !== undefined ? h('span', {class: 'muted small'}, ' slot ' + e.nonce) : null]
          : h('span', {class: 'muted small'}, 'not found in the target\'s slots on this node'),
        tagsInline(e.tags));
    }
    if (e.kind === 'spawn') {
      const name = (e.tags.find((t) => t.name === 'Name') || {}).value;
      return h('li', badge('spawn', 'k-spawn'), ' ', name ? h('strong', name) : null, ' ',
        e.id ? ['→ ', processLink(e.id, name)] : h('span', {class: 'muted small'}, 'the spawned process is not held by this node'),
        tagsInline(e.tags));
    }
    return h('li', badge('assignment', 'k-assignment'), ' of ', messageLink(e.id), ' to ',
      (e.processes || []).map((p) => processLink(p)));
  }));
}

function tagsInline(tags) {
  const shown = (tags || []).filter((t) => !['Data-Protocol', 'Variant', 'Type', 'Ref_', 'Reference'].includes(t.name));
  if (!shown.length) return null;
  return h('details', {class: 'inline-tags'}, h('summary', shown.length + ' tags'), tagTable(shown));
}

function attestationCard(a) {
  return card('Attestation by this node\'s CU', kv([
    ['CU', addressLink(a.cu)],
    ['Signature', a.verified ? badge('verified', 'ok') : badge('does not verify', 'bad')],
    ['Result SHA-256', [h('span', {class: 'mono small break'}, a.result_sha256), ' ', a.result_matches ? badge('matches the result', 'ok') : badge('does not match', 'bad')]],
    ['Memory SHA-256', h('span', {class: 'mono small break'}, a.memory_sha256)],
    ['Item', a.id ? idLink(a.id) : null],
  ]), h('details', h('summary', 'Raw attestation (base64url)'), pre(a.item, 'mono small break')));
}

function agreementCard(g) {
  const list = g.attestations || [];
  const hashes = new Map();
  for (const a of list) hashes.set(a.result_sha256 + a.memory_sha256, (hashes.get(a.result_sha256 + a.memory_sha256) || 0) + 1);
  return card('Who agrees',
    h('p', g.agree ? badge('all agree', 'ok') : badge('they disagree', 'bad'), ` ${list.length} CU attestation${list.length === 1 ? '' : 's'} for slot ${g.slot}.`),
    h('div', {class: 'table-wrap'}, h('table', {class: 'list'},
      h('thead', h('tr', ['CU', 'Result SHA-256', 'Memory SHA-256', 'Same as'].map((t) => h('th', t)))),
      h('tbody', list.map((a) => h('tr',
        h('td', addressLink(a.cu)),
        h('td', h('span', {class: 'mono small', title: a.result_sha256}, short(a.result_sha256, 8))),
        h('td', h('span', {class: 'mono small', title: a.memory_sha256}, short(a.memory_sha256, 8))),
        h('td', String(hashes.get(a.result_sha256 + a.memory_sha256) - 1) + ' other' + (hashes.get(a.result_sha256 + a.memory_sha256) === 2 ? '' : 's'))))))));
}

// ---------------------------------------------------------------- search

async function searchView(ctx, q) {
  q = q.trim();
  document.getElementById('search-q').value = q;
  if (!q) { replace(viewEl, h('h1', 'Search'), h('p', 'Type an id in the box above.')); return; }
  loading('Search');
  const r = await getJSON('api/search?q=' + encodeURIComponent(q), ctx.ac.signal);
  const direct = r.matches.filter((m) => ['process', 'message', 'assignment'].includes(m.kind));
  if (r.matches.length === 1 && direct.length === 1) {
    location.replace(matchHref(direct[0]));
    return;
  }
  replace(viewEl,
    h('div', {class: 'page-head'}, h('h1', 'Search'), h('span', {class: 'mono muted'}, q)),
    r.matches.length === 0
      ? card(null, h('p', 'Nothing this node holds matches ', h('span', {class: 'mono'}, q), '.'),
        h('p', {class: 'muted'}, 'Search takes whole ids: a process, message, assignment or module id, a wallet address (owner or scheduler) or a peer id.'))
      : card(null, h('ul', {class: 'matches'}, r.matches.map((m) => h('li',
        badge(KIND_LABEL[m.kind] || m.kind, 'kind'), ' ',
        h('a', {href: matchHref(m)}, matchText(m)),
        m.label ? h('span', {class: 'muted'}, ' ' + m.label) : null)))));
}

const KIND_LABEL = {wallet: 'owner', spawner: 'parent', item: 'item'};

function matchHref(m) {
  switch (m.kind) {
    case 'process': return route('/process/' + m.id);
    case 'message': return route('/message/' + m.id, {process: m.process});
    case 'assignment': return route('/message/' + m.id, {process: m.process});
    case 'module': return route('/processes', {module: m.id});
    case 'wallet': return route('/processes', {owner: m.id});
    case 'scheduler': return route('/processes', {scheduler: m.id});
    case 'spawner': return route('/processes', {'from-process': m.id});
    case 'node': return route('/network', {node: m.id});
    default: return '/raw/' + m.id;
  }
}

function matchText(m) {
  const c = m.count ? ` (${m.count}${m.count >= 1000 ? '+' : ''} process${m.count === 1 ? '' : 'es'})` : '';
  switch (m.kind) {
    case 'process': return 'Process ' + short(m.id, 8);
    case 'message': return 'Message ' + short(m.id, 8) + (m.nonce !== undefined ? ' — slot ' + m.nonce + ' of ' + short(m.process, 6) : '');
    case 'assignment': return 'Assignment of slot ' + m.nonce + ' in ' + short(m.process, 6);
    case 'module': return 'Module ' + short(m.id, 8) + c;
    case 'wallet': return 'Processes owned by ' + short(m.id, 8) + c;
    case 'scheduler': return 'Processes scheduled by ' + short(m.id, 8) + c;
    case 'spawner': return 'Processes spawned by ' + short(m.id, 8) + c;
    case 'node': return 'Node ' + short(m.id, 8);
    default: return 'Item ' + short(m.id, 8);
  }
}

// ---------------------------------------------------------------- start

document.getElementById('search').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = document.getElementById('search-q').value.trim();
  if (q) location.hash = route('/search', {q});
});
window.addEventListener('hashchange', render);
document.addEventListener('visibilitychange', () => { /* every() skips work while hidden */ });
render();
