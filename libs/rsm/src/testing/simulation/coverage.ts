import type { AnyMachineDefinition } from '../../definition/machine-definition.js';

/** One (state, event) pair and how many committed steps handled it. */
export interface PairCoverage {
  readonly state: string;
  readonly event: string;
  readonly count: number;
}

/** One edge: a committed step of `event` that went from `from` to `to` (equal when it stayed). */
export interface TransitionCoverage {
  readonly from: string;
  readonly event: string;
  readonly to: string;
  readonly count: number;
  /** Listed in the definition's `targets`; staying in `from` is always allowed and is not. */
  readonly declared: boolean;
}

/**
 * What the runs did with one machine type (or, for environment actors, one actor kind, its moves
 * as events): every declared pair with its count (0: never reached), the edges taken and declared,
 * and the events that arrived in a state that does not accept them.
 */
export interface MachineCoverage {
  readonly type: string;
  /** Every declared pair, in declaration order, with its count. */
  readonly pairs: readonly PairCoverage[];
  /** The declared pairs no run reached. */
  readonly unreached: readonly PairCoverage[];
  readonly declaredPairs: number;
  readonly reachedPairs: number;
  /** Every edge taken, plus every declared edge never taken (count 0). */
  readonly transitions: readonly TransitionCoverage[];
  readonly declaredTransitions: number;
  readonly takenTransitions: number;
  /** Events refused by a state that does not accept them (a client's 409, retried or not). */
  readonly refused: readonly PairCoverage[];
}

/** Coverage of an exploration: machine types, then environment actor kinds. */
export interface CoverageReport {
  readonly runs: number;
  readonly machines: readonly MachineCoverage[];
  readonly actors: readonly MachineCoverage[];
}

/** What the coverage report needs to know of a thing with states: (state, event) pairs and where each may go. */
export interface CoverageShape {
  readonly type: string;
  readonly pairs: readonly { readonly from: string; readonly event: string; readonly targets: readonly string[] }[];
}

const SEP = '\u0000';

/** Counts of one run (or of many, merged): committed steps by edge, refusals by pair. */
export class CoverageCounter {
  readonly steps = new Map<string, number>();
  readonly refusals = new Map<string, number>();
  readonly actorMoves = new Map<string, number>();

  step(type: string, from: string, event: string, to: string): void {
    const key = type + SEP + from + SEP + event + SEP + to;
    this.steps.set(key, (this.steps.get(key) ?? 0) + 1);
  }

  refused(type: string, state: string, event: string): void {
    const key = type + SEP + state + SEP + event;
    this.refusals.set(key, (this.refusals.get(key) ?? 0) + 1);
  }

  move(kind: string, from: string, move: string, to: string): void {
    const key = kind + SEP + from + SEP + move + SEP + to;
    this.actorMoves.set(key, (this.actorMoves.get(key) ?? 0) + 1);
  }

  merge(other: CoverageCounter): void {
    for (const [target, source] of [[this.steps, other.steps], [this.refusals, other.refusals], [this.actorMoves, other.actorMoves]] as const) {
      for (const [key, n] of source) target.set(key, (target.get(key) ?? 0) + n);
    }
  }
}

/** The shape of a machine definition: its declared pairs and targets. */
export function shapeOfDefinition(definition: AnyMachineDefinition): CoverageShape {
  return { type: definition.type, pairs: definition.transitions() };
}

function coverageOf(shape: CoverageShape, steps: ReadonlyMap<string, number>, refusals: ReadonlyMap<string, number>): MachineCoverage {
  const prefix = shape.type + SEP;
  const edges = new Map<string, TransitionCoverage>();
  const pairCounts = new Map<string, number>();
  for (const [key, count] of steps) {
    if (!key.startsWith(prefix)) continue;
    const [, from = '', event = '', to = ''] = key.split(SEP);
    edges.set(from + SEP + event + SEP + to, { from, event, to, count, declared: false });
    pairCounts.set(from + SEP + event, (pairCounts.get(from + SEP + event) ?? 0) + count);
  }
  const pairs: PairCoverage[] = [];
  let declaredTransitions = 0;
  let takenTransitions = 0;
  for (const { from, event, targets } of shape.pairs) {
    pairs.push({ state: from, event, count: pairCounts.get(from + SEP + event) ?? 0 });
    for (const to of targets) {
      const key = from + SEP + event + SEP + to;
      const taken = edges.get(key);
      declaredTransitions += 1;
      if (taken !== undefined) takenTransitions += 1;
      edges.set(key, { from, event, to, count: taken?.count ?? 0, declared: true });
    }
  }
  const refused: PairCoverage[] = [];
  for (const [key, count] of refusals) {
    if (!key.startsWith(prefix)) continue;
    const [, state = '', event = ''] = key.split(SEP);
    refused.push({ state, event, count });
  }
  const unreached = pairs.filter((p) => p.count === 0);
  return {
    type: shape.type,
    pairs,
    unreached,
    declaredPairs: pairs.length,
    reachedPairs: pairs.length - unreached.length,
    transitions: [...edges.values()],
    declaredTransitions,
    takenTransitions,
    refused,
  };
}

/** Builds the report from merged counts and the shapes of the machine types and actor kinds. */
export function coverageReport(runs: number, counter: CoverageCounter, machines: readonly CoverageShape[], actors: readonly CoverageShape[]): CoverageReport {
  return {
    runs,
    machines: machines.map((shape) => coverageOf(shape, counter.steps, counter.refusals)),
    actors: actors.map((shape) => coverageOf(shape, counter.actorMoves, new Map())),
  };
}

/** How many committed steps handled `event` in `state` of `type` (a machine type or an actor kind; 0 if never or unknown). */
export function pairCount(report: CoverageReport, type: string, state: string, event: string): number {
  const entry = [...report.machines, ...report.actors].find((m) => m.type === type);
  return entry?.pairs.find((p) => p.state === state && p.event === event)?.count ?? 0;
}

const percent = (n: number, of: number) => (of === 0 ? '  -' : `${String(Math.round((100 * n) / of)).padStart(3)}%`);

function groupByState(pairs: readonly PairCoverage[], withCount: boolean): string {
  const byState = new Map<string, string[]>();
  for (const p of pairs) byState.set(p.state, [...(byState.get(p.state) ?? []), withCount ? `${p.event} ${p.count}` : p.event]);
  return [...byState].map(([state, events]) => `${state}: ${events.join(', ')}`).join('; ');
}

/**
 * A readable table: per machine type (and actor kind) the (state, event) pairs reached out of those
 * declared and the declared transitions taken, then what was never reached. With `detail`, every
 * pair's count too.
 *
 * @example
 * const report = await explore(setup, { runs: 1_000 });
 * console.log(formatCoverage(report.coverage));
 */
export function formatCoverage(report: CoverageReport, options: { readonly detail?: boolean } = {}): string {
  const rows = [...report.machines, ...report.actors.map((a) => ({ ...a, type: `${a.type} (actor)` }))];
  const width = Math.max(16, ...rows.map((r) => r.type.length)) + 2;
  const lines = [`coverage over ${report.runs} runs`, `${'machine'.padEnd(width)}${'(state, event) pairs'.padEnd(24)}declared transitions`];
  for (const r of rows) {
    lines.push(
      `${r.type.padEnd(width)}${`${r.reachedPairs}/${r.declaredPairs}`.padStart(7)} ${percent(r.reachedPairs, r.declaredPairs)}${''.padEnd(11)}${`${r.takenTransitions}/${r.declaredTransitions}`.padStart(7)} ${percent(r.takenTransitions, r.declaredTransitions)}`,
    );
  }
  for (const r of rows) {
    if (options.detail === true) lines.push(`${r.type} reached: ${groupByState(r.pairs.filter((p) => p.count > 0), true)}`);
    if (r.unreached.length > 0) lines.push(`${r.type} never reached: ${groupByState(r.unreached, false)}`);
    const untaken = r.transitions.filter((t) => t.declared && t.count === 0);
    if (untaken.length > 0) lines.push(`${r.type} never taken: ${untaken.map((t) => `${t.from} -${t.event}-> ${t.to}`).join(', ')}`);
    if (options.detail === true && r.refused.length > 0) lines.push(`${r.type} refused: ${groupByState(r.refused, true)}`);
  }
  return lines.join('\n');
}
