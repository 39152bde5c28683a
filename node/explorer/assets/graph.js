// Graph layout and drawing in SVG: a force-directed layout (Fruchterman–Reingold with
// gravity), deterministic for the same input, that keeps the positions of nodes it has
// placed before so that a refreshing view does not jump.

import {s} from './dom.js';

export const ROLE_COLORS = {su: '#3b82f6', cu: '#22c55e', mu: '#f59e0b', gateway: '#94a3b8'};
export const EDGE_COLORS = {spawn: '#a855f7', message: '#3b82f6', assignment: '#f97316', link: '#94a3b8', scheduler: '#64748b'};

// hash is a small deterministic string hash (FNV-1a), for stable starting positions.
function hash(str) {
  let x = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    x ^= str.charCodeAt(i);
    x = Math.imul(x, 0x01000193) >>> 0;
  }
  return x;
}

// layout places nodes ([{id, pin?: {x, y}, light?}]) joined by edges ([{from, to}]) in a
// width×height box. prev (a Map id → {x, y}) keeps earlier positions. It answers a Map.
export function layout(nodes, edges, {width, height, prev, iterations} = {}) {
  const n = nodes.length;
  const pos = new Map();
  if (n === 0) return pos;
  const cx = width / 2;
  const cy = height / 2;
  const radius = Math.min(width, height) * 0.38;
  nodes.forEach((nd, i) => {
    const old = prev && prev.get(nd.id);
    if (nd.pin) {
      pos.set(nd.id, {x: nd.pin.x, y: nd.pin.y, vx: 0, vy: 0});
    } else if (old) {
      pos.set(nd.id, {x: old.x, y: old.y, vx: 0, vy: 0});
    } else {
      const a = (2 * Math.PI * i) / n + (hash(nd.id) % 1000) / 5000;
      const r = radius * (0.6 + ((hash(nd.id) >>> 10) % 400) / 1000);
      pos.set(nd.id, {x: cx + r * Math.cos(a), y: cy + r * Math.sin(a), vx: 0, vy: 0});
    }
  });
  const pinned = new Set(nodes.filter((nd) => nd.pin).map((nd) => nd.id));
  const allOld = prev && nodes.every((nd) => prev.has(nd.id) || nd.pin);
  const iters = iterations || (allOld ? 30 : n > 150 ? 160 : 300);
  // The natural edge length: the box shared out among the nodes, but never so long that a
  // handful of nodes are flung to the corners.
  const k = Math.min(Math.sqrt((width * height) / n) * 0.9, Math.max(Math.min(width, height) * 0.3, 140));
  const ids = nodes.map((nd) => nd.id);
  const ps = ids.map((id) => pos.get(id));
  const index = new Map(ids.map((id, i) => [id, i]));
  const es = edges.map((e) => [index.get(e.from), index.get(e.to)]).filter(([a, b]) => a !== undefined && b !== undefined && a !== b);
  // In a dense graph every node pulls on its many neighbours and all collapse into a ball:
  // an edge pulls less the more edges its ends have.
  const deg = new Array(n).fill(0);
  for (const [a, b] of es) { deg[a]++; deg[b]++; }
  const pull = es.map(([a, b]) => 1 / Math.sqrt(Math.max(1, Math.min(deg[a], deg[b]))));
  // A light node (a process beside its SU) pushes and is pushed less, and its edges pull
  // fully, so that it stays near what it hangs on.
  const light = nodes.map((nd) => (nd.light ? 0.15 : 1));
  es.forEach(([a, b], e) => { if (light[a] < 1 || light[b] < 1) pull[e] = 2; });
  let temp = allOld ? k * 0.2 : Math.min(width, height) / 8;
  const cool = temp / (iters + 1);
  for (let it = 0; it < iters; it++) {
    for (const p of ps) { p.vx = 0; p.vy = 0; }
    for (let i = 0; i < n; i++) {
      const a = ps[i];
      for (let j = i + 1; j < n; j++) {
        const b = ps[j];
        let dx = a.x - b.x;
        let dy = a.y - b.y;
        let d2 = dx * dx + dy * dy;
        if (d2 < 0.01) { dx = (i - j) * 0.1; dy = 0.1; d2 = dx * dx + dy * dy; }
        const f = ((k * k) / d2) * light[i] * light[j];
        a.vx += dx * f; a.vy += dy * f;
        b.vx -= dx * f; b.vy -= dy * f;
      }
    }
    for (let e = 0; e < es.length; e++) {
      const [i, j] = es[e];
      const a = ps[i];
      const b = ps[j];
      const dx = a.x - b.x;
      const dy = a.y - b.y;
      const d = Math.sqrt(dx * dx + dy * dy) || 0.01;
      const f = (d / k) * pull[e];
      a.vx -= dx * f; a.vy -= dy * f;
      b.vx += dx * f; b.vy += dy * f;
    }
    for (let i = 0; i < n; i++) {
      if (pinned.has(ids[i])) continue;
      const p = ps[i];
      // Gravity keeps components that share no edge on the page.
      p.vx += (cx - p.x) * 0.02 * (k / 50);
      p.vy += (cy - p.y) * 0.02 * (k / 50);
      const v = Math.sqrt(p.vx * p.vx + p.vy * p.vy) || 1;
      const step = Math.min(v, temp);
      p.x += (p.vx / v) * step;
      p.y += (p.vy / v) * step;
      p.x = Math.max(40, Math.min(width - 70, p.x));
      p.y = Math.max(30, Math.min(height - 30, p.y));
    }
    temp -= cool;
  }
  // Nodes with no edge float to the edges of the box; line them up along its bottom instead,
  // and fit the connected part above them.
  const lone = [];
  const rest = [];
  ps.forEach((p, i) => ((deg[i] === 0 && n > 1 && !pinned.has(ids[i]) && !(prev && prev.has(ids[i]))) ? lone : rest).push(p));
  if (!allOld && pinned.size === 0) fit(rest, width, lone.length ? height - 70 : height);
  const perRow = Math.max(1, Math.floor((width - 120) / 90));
  lone.forEach((p, i) => {
    p.x = 60 + (i % perRow) * 90;
    p.y = height - 40 - Math.floor(i / perRow) * 50;
  });
  return pos;
}

// fit scales and moves a fresh layout to fill the box, keeping room for labels.
function fit(ps, width, height) {
  const mx = 60;
  const my = 40;
  let x0 = Infinity; let x1 = -Infinity; let y0 = Infinity; let y1 = -Infinity;
  for (const p of ps) { x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x); y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y); }
  const sx = x1 > x0 ? (width - 2 * mx) / (x1 - x0) : 1;
  const sy = y1 > y0 ? (height - 2 * my) / (y1 - y0) : 1;
  const sc = Math.min(sx, sy, 2.5);
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  for (const p of ps) {
    p.x = width / 2 + (p.x - cx) * sc;
    p.y = height / 2 + (p.y - cy) * sc;
  }
}

// arc is the SVG path of a ring segment from angle a0 to a1 (radians).
function arc(cx, cy, r, a0, a1) {
  const x0 = cx + r * Math.cos(a0);
  const y0 = cy + r * Math.sin(a0);
  const x1 = cx + r * Math.cos(a1);
  const y1 = cy + r * Math.sin(a1);
  const large = a1 - a0 > Math.PI ? 1 : 0;
  return `M ${x0.toFixed(2)} ${y0.toFixed(2)} A ${r} ${r} 0 ${large} 1 ${x1.toFixed(2)} ${y1.toFixed(2)}`;
}

// roleRing is a node drawn as a ring with one coloured segment per role.
export function roleRing(x, y, r, roles) {
  const g = s('g', {class: 'ring'});
  g.appendChild(s('circle', {cx: x, cy: y, r, class: 'ring-fill'}));
  const rs = (roles || []).filter((ro) => ROLE_COLORS[ro]);
  if (rs.length === 0) {
    g.appendChild(s('circle', {cx: x, cy: y, r, fill: 'none', stroke: '#cbd5e1', 'stroke-width': 4}));
  } else if (rs.length === 1) {
    g.appendChild(s('circle', {cx: x, cy: y, r, fill: 'none', stroke: ROLE_COLORS[rs[0]], 'stroke-width': 4}));
  } else {
    const gap = 0.12;
    const seg = (2 * Math.PI) / rs.length;
    rs.forEach((ro, i) => {
      const a0 = -Math.PI / 2 + i * seg + gap / 2;
      g.appendChild(s('path', {d: arc(x, y, r, a0, a0 + seg - gap), fill: 'none', stroke: ROLE_COLORS[ro], 'stroke-width': 4, 'stroke-linecap': 'round'}));
    });
  }
  return g;
}

// markers are the arrow heads of the edge kinds.
export function markers() {
  const defs = s('defs');
  for (const [kind, color] of Object.entries(EDGE_COLORS)) {
    defs.appendChild(s('marker', {id: 'arrow-' + kind, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
      s('path', {d: 'M 0 0 L 10 5 L 0 10 z', fill: color})));
  }
  return defs;
}

// edgePath is a line from a to b that stops short of both ends' circles (radius ra, rb),
// bent a little when bend is set so that a→b and b→a do not overlap.
export function edgePath(a, b, ra, rb, bend) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const d = Math.sqrt(dx * dx + dy * dy) || 1;
  const ux = dx / d;
  const uy = dy / d;
  const x0 = a.x + ux * ra;
  const y0 = a.y + uy * ra;
  const x1 = b.x - ux * rb;
  const y1 = b.y - uy * rb;
  if (!bend) return {d: `M ${x0.toFixed(1)} ${y0.toFixed(1)} L ${x1.toFixed(1)} ${y1.toFixed(1)}`, mx: (x0 + x1) / 2, my: (y0 + y1) / 2};
  const mx = (x0 + x1) / 2 - uy * bend;
  const my = (y0 + y1) / 2 + ux * bend;
  return {d: `M ${x0.toFixed(1)} ${y0.toFixed(1)} Q ${mx.toFixed(1)} ${my.toFixed(1)} ${x1.toFixed(1)} ${y1.toFixed(1)}`, mx, my};
}

// panZoom lets the wheel zoom and a drag pan an SVG by its viewBox.
export function panZoom(svg, width, height) {
  let vb = {x: 0, y: 0, w: width, h: height};
  const apply = () => svg.setAttribute('viewBox', `${vb.x.toFixed(1)} ${vb.y.toFixed(1)} ${vb.w.toFixed(1)} ${vb.h.toFixed(1)}`);
  apply();
  svg.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    const fx = (ev.clientX - r.left) / r.width;
    const fy = (ev.clientY - r.top) / r.height;
    const z = ev.deltaY < 0 ? 0.85 : 1 / 0.85;
    const w = Math.min(width * 4, Math.max(width / 8, vb.w * z));
    const hh = (w / vb.w) * vb.h;
    vb = {x: vb.x + (vb.w - w) * fx, y: vb.y + (vb.h - hh) * fy, w, h: hh};
    apply();
  }, {passive: false});
  let drag = null;
  svg.addEventListener('pointerdown', (ev) => {
    if (ev.target.closest && ev.target.closest('a')) return;
    drag = {x: ev.clientX, y: ev.clientY, vb: {...vb}};
    svg.classList.add('dragging');
  });
  const end = () => { drag = null; svg.classList.remove('dragging'); };
  svg.addEventListener('pointerup', end);
  svg.addEventListener('pointerleave', end);
  svg.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    vb = {...vb, x: drag.vb.x - ((ev.clientX - drag.x) * vb.w) / r.width, y: drag.vb.y - ((ev.clientY - drag.y) * vb.h) / r.height};
    apply();
  });
  return () => { vb = {x: 0, y: 0, w: width, h: height}; apply(); };
}
