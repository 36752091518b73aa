import type { Action } from './world.js';

/** A seeded pseudo-random generator (mulberry32): the same seed gives the same run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Chooses the next action among the enabled ones. */
export interface Strategy {
  readonly name: string;
  choose(enabled: readonly Action[], step: number): Action;
}

/** Uniformly at random among the enabled actions. */
export function randomWalk(random: () => number): Strategy {
  return { name: 'random', choose: (enabled) => enabled[Math.floor(random() * enabled.length)] as Action };
}

/**
 * Probabilistic concurrency testing: every actor (machine, timer owner, environment actor) gets a
 * random priority and the highest-priority enabled actor runs; at `depth - 1` random steps the
 * running actor drops to the lowest priority. Bugs that need few ordering decisions are found
 * with good probability, where a random walk spreads its choices thin.
 */
export function priorityStrategy(random: () => number, depth: number, maxSteps: number): Strategy {
  const priorities = new Map<string, number>();
  const changePoints = new Set(Array.from({ length: Math.max(0, depth - 1) }, () => Math.floor(random() * maxSteps)));
  let lowest = 0;
  const priorityOf = (actor: string) => {
    let p = priorities.get(actor);
    if (p === undefined) {
      p = 1 + random();
      priorities.set(actor, p);
    }
    return p;
  };
  return {
    name: `priority(d=${depth})`,
    choose: (enabled, step) => {
      let best = enabled[0] as Action;
      for (const action of enabled) if (priorityOf(action.actor) > priorityOf(best.actor)) best = action;
      if (changePoints.has(step)) {
        lowest -= 1;
        priorities.set(best.actor, lowest);
      }
      return best;
    },
  };
}
