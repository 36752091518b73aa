import type { AnyMachineDefinition } from '../../definition/machine-definition.js';
import { CoverageCounter, coverageReport, shapeOfDefinition, type CoverageReport, type CoverageShape } from './coverage.js';
import { priorityStrategy, randomWalk, seededRandom, type Strategy } from './strategies.js';
import { World, type ActivityStub, type SimEnvironment, type TraceStep, type WorldView } from './world.js';

export type { WorldView } from './world.js';

/**
 * An invariant as code. `safety` is checked after every step; `liveness` when the run ends (nothing
 * left to do, or the step bound). Each returns a description of the violation, or undefined.
 */
export interface Monitor {
  readonly name: string;
  readonly safety?: (world: WorldView) => string | undefined;
  readonly liveness?: (world: WorldView) => string | undefined;
}

/** The system under test: machine definitions, stand-ins for activities, and how a run begins. */
export interface SimulationSetup {
  readonly machines: readonly AnyMachineDefinition[];
  readonly activities?: Readonly<Record<string, ActivityStub>>;
  readonly monitors?: readonly Monitor[];
  /** Creates machines and queues the outside world's events; runs before the first step. */
  readonly init: (env: SimEnvironment) => void;
  /**
   * A rolling upgrade to `machines` from older definitions of some of their types (`from`): for
   * the first steps of each run (a seeded number up to `overlapSteps`, default 200) processes of
   * both versions run side by side, each creation, step and request on one of them at random, as
   * pods behind one queue; then only the new ones. A process of the older definition never steps a
   * machine a newer one has stepped (the event waits, `deferred` in the trace); a newer one migrates
   * older machines first. Monitors see each machine's `version`.
   *
   * @example
   * upgrade: { from: [DroneV1], overlapSteps: 300 },
   */
  readonly upgrade?: { readonly from: readonly AnyMachineDefinition[]; readonly overlapSteps?: number };
}

export interface ExploreOptions {
  /** Runs to try (seeds `seed`, `seed + 1`, ...). */
  readonly runs: number;
  readonly seed?: number;
  /** Steps per run before it is cut (and liveness judged on what is left). */
  readonly maxSteps?: number;
  /** `random`, `priority`, or alternate the two (default). */
  readonly strategy?: 'random' | 'priority' | 'mixed';
  /** Depth of the priority strategy (number of priority changes + 1). */
  readonly depth?: number;
  /** Probability that a delivery crashes before its commit (the handler runs, its effects are lost). */
  readonly crashProbability?: number;
  /** Probability, per step, that an already delivered message is delivered again. */
  readonly duplicateProbability?: number;
  readonly activityMaxAttempts?: number;
  /** Stop at the first failing run (default true). */
  readonly stopAtFirstFailure?: boolean;
}

/** The outcome of one run. */
export interface RunResult {
  readonly seed: number;
  readonly strategy: string;
  readonly steps: number;
  /** The violated monitor and why, if any. */
  readonly failure: string | undefined;
  readonly trace: readonly TraceStep[];
  readonly world: World;
}

export interface ExploreReport {
  readonly runs: number;
  readonly failures: readonly RunResult[];
  readonly seconds: number;
  readonly runsPerSecond: number;
  /** Runs it took to hit the first failure (1-based), if any. */
  readonly runsToFirstFailure: number | undefined;
  /** Which (state, event) pairs and transitions the runs reached, per machine type and actor kind. */
  readonly coverage: CoverageReport;
}

const DEFAULTS = { maxSteps: 2_000, depth: 3, crashProbability: 0.05, duplicateProbability: 0.05, activityMaxAttempts: 3 } as const;

function strategyFor(options: ExploreOptions, seed: number, random: () => number): Strategy {
  const kind = options.strategy ?? 'mixed';
  const useRandom = kind === 'random' || (kind === 'mixed' && seed % 2 === 0);
  return useRandom ? randomWalk(random) : priorityStrategy(random, options.depth ?? DEFAULTS.depth, options.maxSteps ?? DEFAULTS.maxSteps);
}

/**
 * Runs one seeded execution: the same setup, seed and options always give the same run, which is
 * how a failure found by {@link explore} is replayed.
 *
 * @example
 * const run = await simulate(setup, 1234, { runs: 1 });
 * console.log(formatTrace(run.trace));
 */
export async function simulate(setup: SimulationSetup, seed: number, options: ExploreOptions): Promise<RunResult> {
  const random = seededRandom(seed);
  const strategy = strategyFor(options, seed, random);
  const world = new World(setup.machines, {
    activities: setup.activities ?? {},
    activityMaxAttempts: options.activityMaxAttempts ?? DEFAULTS.activityMaxAttempts,
    scriptMaxAttempts: 50,
    earlyFiringsPerTimer: 2,
    random,
    ...(setup.upgrade === undefined ? {} : { upgrade: upgradeOf(setup, random) }),
  });
  const view = world.view;
  const monitors = setup.monitors ?? [];
  const maxSteps = options.maxSteps ?? DEFAULTS.maxSteps;
  const crashP = options.crashProbability ?? DEFAULTS.crashProbability;
  const dupP = options.duplicateProbability ?? DEFAULTS.duplicateProbability;
  setup.init(world.env);
  const check = (kind: 'safety' | 'liveness'): string | undefined => {
    for (const monitor of monitors) {
      const verdict = monitor[kind]?.(view);
      if (verdict !== undefined) return `${kind} monitor "${monitor.name}": ${verdict}`;
    }
    return undefined;
  };
  const result = (failure: string | undefined): RunResult => ({ seed, strategy: strategy.name, steps: world.step, failure, trace: world.trace, world });

  while (world.step < maxSteps) {
    const enabled = world.enabled();
    if (enabled.length === 0) break;
    if (random() < dupP) world.injectDuplicate((n) => Math.floor(random() * n));
    const action = strategy.choose(enabled, world.step);
    const crash = (action.kind === 'deliver' || action.kind === 'env') && random() < crashP;
    await world.perform(action, crash);
    const violated = check('safety');
    if (violated !== undefined) return result(`step ${world.step}: ${violated}`);
  }
  const pending = world.enabled().length;
  const stuck = check('liveness');
  if (stuck !== undefined) return result(`${stuck}${pending > 0 ? ` (cut at ${maxSteps} steps with ${pending} actions still enabled)` : ' (nothing left to do: work is stuck)'}`);
  return result(undefined);
}

/** The older definitions by type, checked against the setup's, and the step at which the old processes are gone. */
function upgradeOf(setup: SimulationSetup, random: () => number): { from: Map<string, AnyMachineDefinition>; until: number } {
  const from = new Map<string, AnyMachineDefinition>();
  for (const older of setup.upgrade?.from ?? []) {
    const current = setup.machines.find((m) => m.type === older.type);
    if (current === undefined) throw new Error(`upgrade: ${older.type} is not among the setup's machines`);
    if (older.version >= current.version) throw new Error(`upgrade: ${older.type} v${older.version} is not older than v${current.version}`);
    if (older.version < current.versions.oldest) throw new Error(`upgrade: ${older.type} v${current.version} does not migrate from v${older.version} (oldest: v${current.versions.oldest})`);
    if (from.has(older.type)) throw new Error(`upgrade: ${older.type} is given twice`);
    from.set(older.type, older);
  }
  const overlap = setup.upgrade?.overlapSteps ?? 200;
  if (!Number.isInteger(overlap) || overlap < 0) throw new Error('upgrade: overlapSteps must be a non-negative integer');
  return { from, until: Math.floor(random() * (overlap + 1)) };
}

/**
 * Runs many seeded executions of a setup and reports the failing ones, each replayable by its seed.
 *
 * @example
 * const report = await explore(setup, { runs: 500, seed: 1 });
 * assert.equal(report.failures.length, 0, report.failures[0] && describeFailure(report.failures[0]));
 */
export async function explore(setup: SimulationSetup, options: ExploreOptions): Promise<ExploreReport> {
  const started = performance.now();
  const first = options.seed ?? 1;
  const failures: RunResult[] = [];
  let runs = 0;
  let runsToFirstFailure: number | undefined;
  const counter = new CoverageCounter();
  const actorKinds = new Map<string, CoverageShape>();
  for (let i = 0; i < options.runs; i += 1) {
    const run = await simulate(setup, first + i, options);
    runs += 1;
    counter.merge(run.world.coverage);
    for (const [kind, shape] of run.world.actorKinds) if (!actorKinds.has(kind)) actorKinds.set(kind, shape);
    if (run.failure !== undefined) {
      failures.push(run);
      runsToFirstFailure ??= runs;
      if (options.stopAtFirstFailure ?? true) break;
    }
  }
  const seconds = (performance.now() - started) / 1_000;
  const coverage = coverageReport(runs, counter, setup.machines.map(shapeOfDefinition), [...actorKinds.values()]);
  return { runs, failures, seconds, runsPerSecond: runs / Math.max(seconds, 1e-9), runsToFirstFailure, coverage };
}

/** A step-by-step, human-readable trace. */
export function formatTrace(trace: readonly TraceStep[], last = 60): string {
  const lines = trace.slice(-last).map((t) => {
    if (t.outcome === 'env') return `#${String(t.step).padStart(4)} ${'env'.padEnd(17)} ${t.machine} ${t.event} [${t.from}${t.from === t.to ? '' : ` -> ${t.to}`}]${t.effects.length > 0 ? `  => ${t.effects.join('; ')}` : ''}`;
    const move = t.from === '-' ? '' : t.from === t.to ? ` [${t.from}]` : ` [${t.from} -> ${t.to}]`;
    const effects = t.effects.length > 0 ? `  => ${t.effects.join('; ')}` : '';
    const version = t.version === undefined ? '' : ` (v${t.version})`;
    return `#${String(t.step).padStart(4)} ${t.outcome.padEnd(17)} ${t.machine}${version} ${t.event}${move}${effects}`;
  });
  return (trace.length > last ? [`... ${trace.length - last} earlier steps`] : []).concat(lines).join('\n');
}

/** The message a test prints for a failing run: what failed, how to replay it, and the trace. */
export function describeFailure(run: RunResult): string {
  return `${run.failure ?? 'no failure'}\nreplay with seed ${run.seed} (strategy ${run.strategy}, ${run.steps} steps)\n${formatTrace(run.trace)}`;
}

/**
 * For test runners: explores and throws, with the seed and the trace, if any run fails.
 *
 * @example
 * it('never gives one drone to two deliveries', () => assertExplore(setup, { runs: 1_000 }));
 */
export async function assertExplore(setup: SimulationSetup, options: ExploreOptions): Promise<ExploreReport> {
  const report = await explore(setup, options);
  const failure = report.failures[0];
  if (failure !== undefined) throw new Error(describeFailure(failure));
  return report;
}
