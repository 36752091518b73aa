import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkInvariants, waitUntilQuiet, type InvariantResult, type SuiteSnapshot, type SuiteUrls } from '#verifier';
import { runLoad, type LoadOptions, type LoadResult } from './load-driver.js';
import type { PodKiller } from './pod-killer.js';

export interface ChaosOptions {
  readonly urls: SuiteUrls;
  readonly load: LoadOptions;
  /** No killer: the no-chaos run the chaos run is compared with. */
  readonly killer?: PodKiller;
  readonly apps: readonly string[];
  readonly killEveryS: number;
  /** Other disruptions at given seconds after the start (Redis data loss, Postgres restart). */
  readonly disruptions?: readonly { atS: number; name: string; run: () => Promise<string> }[];
  readonly quietTimeoutMs: number;
  /** An operator API key: the verifier reads every service's lists and dead letters. */
  readonly operatorKey: string;
}

export interface ChaosRun {
  readonly label: string;
  readonly load: Omit<LoadResult, 'accepted'> & { accepted: number };
  readonly events: { atS: number; what: string }[];
  readonly results: InvariantResult[];
  readonly quiet: boolean;
  readonly completedPerSecond: number[];
  /** Deliveries of this run completed per second, from the first request to the last completion. */
  readonly completedRate: number;
  readonly acceptanceP99Ms: number;
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))] ?? NaN;

/** Drives load while killing pods on a schedule, waits until the suite is quiet, and verifies it. */
export async function runChaos(label: string, o: ChaosOptions): Promise<ChaosRun> {
  const events: { atS: number; what: string }[] = [];
  const started = Date.now();
  const at = () => Math.round((Date.now() - started) / 100) / 10;
  const timers: NodeJS.Timeout[] = [];
  const pending: Promise<void>[] = [];
  const note = (work: () => Promise<string>) => pending.push(work().then((what) => void events.push({ atS: at(), what }), (error: unknown) => void events.push({ atS: at(), what: `failed: ${String(error)}` })));
  if (o.killer !== undefined && o.killEveryS > 0) {
    const killer = o.killer;
    timers.push(setInterval(() => note(() => killer.kill(o.apps[Math.floor(Math.random() * o.apps.length)] as string)), o.killEveryS * 1_000));
  }
  for (const d of o.disruptions ?? []) timers.push(setTimeout(() => note(d.run), d.atS * 1_000));
  let load: LoadResult;
  try {
    load = await runLoad(o.load);
  } finally {
    for (const t of timers) clearInterval(t);
  }
  await Promise.all(pending);
  const { snapshot, quiet } = await waitUntilQuiet(o.urls, o.quietTimeoutMs, { operatorKey: o.operatorKey });
  const mine = (id: string) => id.startsWith(`${o.load.prefix}-`);
  const runSnapshot: SuiteSnapshot = { ...snapshot, sagas: snapshot.sagas, requests: snapshot.requests };
  const results = checkInvariants(runSnapshot, { accepted: new Set([...snapshot.requests.map((r) => r.deliveryId).filter((id) => !mine(id)), ...load.accepted]) });
  const completions = snapshot.sagas
    .filter((s) => mine(s.deliveryId) && s.state === 'Completed')
    .map((s) => Date.parse(s.history.find((h) => h.state === 'Completed')?.at ?? ''))
    .filter((t) => Number.isFinite(t));
  const completedPerSecond: number[] = [];
  for (const t of completions) {
    const second = Math.max(0, Math.floor((t - load.startedAt) / 1_000));
    completedPerSecond[second] = (completedPerSecond[second] ?? 0) + 1;
  }
  const last = Math.max(...completions, load.startedAt + 1_000);
  return {
    label,
    load: { ...load, accepted: load.accepted.size },
    events,
    results,
    quiet,
    completedPerSecond: Array.from(completedPerSecond, (v) => v ?? 0),
    completedRate: completions.length / ((last - load.startedAt) / 1_000),
    acceptanceP99Ms: percentile(load.acceptanceLatenciesMs, 99),
  };
}

/** Writes report.json and report.html (accepted and completed per second, kills marked). */
export function writeReport(dir: string, runs: readonly ChaosRun[]): { json: string; html: string; ratio: number | undefined } {
  mkdirSync(dir, { recursive: true });
  const baseline = runs.find((r) => r.events.length === 0);
  const chaos = runs.find((r) => r.events.length > 0);
  const ratio = baseline !== undefined && chaos !== undefined && baseline.completedRate > 0 ? chaos.completedRate / baseline.completedRate : undefined;
  const json = join(dir, 'report.json');
  writeFileSync(json, `${JSON.stringify({ ratio, runs: runs.map(({ load: { acceptanceLatenciesMs: _l, ...load }, ...run }) => ({ ...run, load })) }, null, 2)}\n`);
  const html = join(dir, 'report.html');
  writeFileSync(html, renderHtml(runs, ratio));
  return { json, html, ratio };
}

function chart(run: ChaosRun): string {
  const w = 900;
  const h = 240;
  const seconds = Math.max(run.load.acceptedPerSecond.length, run.completedPerSecond.length, 1);
  const max = Math.max(1, ...run.load.acceptedPerSecond, ...run.completedPerSecond);
  const x = (s: number) => 40 + (s / seconds) * (w - 60);
  const y = (v: number) => h - 30 - (v / max) * (h - 50);
  const line = (values: number[], color: string) => `<polyline fill="none" stroke="${color}" stroke-width="2" points="${values.map((v, s) => `${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`;
  const marks = run.events.map((e) => `<line x1="${x(e.atS)}" x2="${x(e.atS)}" y1="20" y2="${h - 30}" stroke="#d33" stroke-dasharray="4 3"><title>${escapeHtml(`${e.atS}s ${e.what}`)}</title></line>`).join('');
  return `<svg width="${w}" height="${h}" role="img"><rect width="${w}" height="${h}" fill="#fff"/>${marks}${line(run.load.acceptedPerSecond, '#2a6fdb')}${line(run.completedPerSecond, '#1a9e55')}
<text x="40" y="14" font-size="12">per second (max ${max}); blue accepted, green completed, red dashed kills</text><text x="40" y="${h - 10}" font-size="11">0 s</text><text x="${w - 60}" y="${h - 10}" font-size="11">${seconds} s</text></svg>`;
}

function renderHtml(runs: readonly ChaosRun[], ratio: number | undefined): string {
  const sections = runs.map((run) => {
    const verdict = run.results.map((r) => `<li class="${r.ok ? 'ok' : 'fail'}">${r.ok ? 'PASS' : 'FAIL'} ${r.id}. ${escapeHtml(r.name)} ${escapeHtml(JSON.stringify(r.counts))}${r.problems.map((p) => `<br><small>${escapeHtml(p)}</small>`).join('')}</li>`).join('');
    const events = run.events.map((e) => `<li>${e.atS} s: ${escapeHtml(e.what)}</li>`).join('');
    return `<h2>${escapeHtml(run.label)}</h2><p>accepted ${run.load.accepted}, gave up ${run.load.gaveUp}, completed ${run.completedRate.toFixed(2)}/s, acceptance p99 ${run.acceptanceP99Ms.toFixed(0)} ms, quiet ${String(run.quiet)}</p>${chart(run)}<h3>Invariants</h3><ul>${verdict}</ul><h3>Disruptions</h3><ul>${events || '<li>none</li>'}</ul>`;
  });
  return `<!doctype html><meta charset="utf-8"><title>TailSpin chaos report</title><style>body{font-family:sans-serif;max-width:960px;margin:auto}.ok{color:#1a7f37}.fail{color:#c00;font-weight:bold}</style><h1>TailSpin chaos report</h1>${ratio !== undefined ? `<p>completed per second, chaos / no chaos: <b>${ratio.toFixed(2)}</b></p>` : ''}${sections.join('')}`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}
