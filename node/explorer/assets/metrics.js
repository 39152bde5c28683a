// The live figures of the overview, read from the node's Prometheus text at /metrics.

import {bytes, num} from './dom.js';

// parseMetrics reads the Prometheus text format into a Map name → [{labels, value}].
export function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[4]);
    if (Number.isNaN(value)) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let lm;
      while ((lm = re.exec(m[3])) !== null) labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    let list = out.get(m[1]);
    if (!list) { list = []; out.set(m[1], list); }
    list.push({labels, value});
  }
  return out;
}

// sum adds the series of the metrics [name, {label: value}] that match; undefined when none
// of the names is exposed at all (the node runs no unit that has it).
function sum(m, series) {
  let total = 0;
  let seen = false;
  for (const [name, want] of series) {
    const list = m.get(name);
    if (!list) continue;
    seen = true;
    for (const sm of list) {
      if (Object.entries(want || {}).every(([k, v]) => sm.labels[k] === v)) total += sm.value;
    }
  }
  return seen ? total : undefined;
}

const rate1 = (v) => (v >= 100 ? num(Math.round(v)) : num(Math.round(v * 10) / 10));

export const FIGURES = [
  {key: 'scheduled', label: 'Scheduled / s', kind: 'rate', format: rate1, help: 'SU: slots assigned per second (su_schedule_requests_total{outcome="ok"})',
    series: [['su_schedule_requests_total', {outcome: 'ok'}]]},
  {key: 'computed', label: 'Computed / s', kind: 'rate', format: rate1, help: 'CU: messages evaluated per second (aonode_cu_evaluations_total)',
    series: [['aonode_cu_evaluations_total', {}]]},
  {key: 'cranked', label: 'Cranked / s', kind: 'rate', format: rate1, help: 'MU: crank steps done per second (mu_crank_steps_total{outcome="done"})',
    series: [['mu_crank_steps_total', {outcome: 'done'}]]},
  {key: 'pushed', label: 'Pushed / s', kind: 'rate', format: rate1, help: 'MU: items and assignments an SU accepted from the crank (mu_pushed_total)',
    series: [['mu_pushed_total', {}]]},
  {key: 'queue', label: 'Crank queue', kind: 'gauge', help: 'MU: crank tasks queued or in flight (mu_queue_pending)',
    series: [['mu_queue_pending', {}]]},
  {key: 'live', label: 'Live processes', kind: 'gauge', help: 'CU: processes holding memory (aonode_cu_live_processes)',
    series: [['aonode_cu_live_processes', {}]]},
  {key: 'peers', label: 'Connected peers', kind: 'gauge', help: 'p2p: peers connected (aonode_p2p_connected_peers)',
    series: [['aonode_p2p_connected_peers', {}]]},
  {key: 'errors', label: 'Errors', kind: 'counter', alarm: true,
    help: 'Evaluation errors and traps, dead-lettered crank tasks, failed SU requests, store write errors, since start',
    series: [['aonode_cu_evaluations_total', {outcome: 'error'}], ['aonode_cu_evaluations_total', {outcome: 'trap'}],
      ['mu_dead_letters_total', {}], ['su_schedule_requests_total', {outcome: 'error'}], ['aonode_store_write_errors_total', {}]]},
  {key: 'memory', label: 'Resident memory', kind: 'gauge', format: bytes, help: 'process_resident_memory_bytes',
    series: [['process_resident_memory_bytes', {}]]},
  {key: 'goroutines', label: 'Goroutines', kind: 'gauge', help: 'go_goroutines', series: [['go_goroutines', {}]]},
];

// figureSample is a figure's value now: undefined when the node exposes none of its metrics,
// null for a rate before a second sample.
export function figureSample(f, m, last, nowMs) {
  const v = sum(m, f.series);
  if (v === undefined) return undefined;
  if (f.kind !== 'rate') return v;
  if (!last) return null;
  const before = sum(last.m, f.series);
  const dt = (nowMs - last.t) / 1000;
  if (before === undefined || dt <= 0) return null;
  return Math.max(0, (v - before) / dt);
}
