export { TestRuntime } from './test-runtime.js';
export type { OutboundEvent, PendingCall, TestMachine, TraceEntry } from './test-runtime.js';
export { assertExplore, describeFailure, explore, formatTrace, simulate } from './simulation/simulator.js';
export type { ExploreOptions, ExploreReport, Monitor, RunResult, SimulationSetup, WorldView } from './simulation/simulator.js';
export { priorityStrategy, randomWalk, seededRandom } from './simulation/strategies.js';
export type { Strategy } from './simulation/strategies.js';
export { envActor, envRequest } from './simulation/world.js';
export type { Action, ActivityStub, EnvActorSpec, EnvMove, EnvRequest, ScriptStep, SimEnvironment, SimMachine, TraceStep, World, WorldOptions } from './simulation/world.js';
export type { MachineStatus } from '../definition/step-executor.js';
export { formatCoverage, pairCount } from './simulation/coverage.js';
export type { CoverageCounter, CoverageReport, CoverageShape, MachineCoverage, PairCoverage, TransitionCoverage } from './simulation/coverage.js';
// What a step did, as `TraceEntry.effects` shows it.
export type { Effect } from '../definition/effects.js';
