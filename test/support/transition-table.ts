import type { AnyMachineDefinition, RsmEvent } from '#rsm';
import { TestRuntime } from '#rsm/testing';

export interface TableOutcome {
  readonly from: string;
  readonly event: string;
  readonly declared: boolean;
  readonly outcome: 'ok' | 'refused' | 'failed';
  readonly to: string;
  readonly detail: string;
}

/**
 * Runs every event type against every state of a machine, each from a fresh machine seeded in that
 * state: the declared pairs must be handled and end in a declared target, all others refused.
 */
export async function runTransitionTable(
  definition: AnyMachineDefinition,
  dataFor: (state: string) => unknown,
  samples: Record<string, (data: unknown, state: string) => RsmEvent>,
): Promise<TableOutcome[]> {
  const outcomes: TableOutcome[] = [];
  for (const from of definition.states as readonly string[]) {
    const accepted = new Set(definition.accepts(from));
    for (const [eventType, sample] of Object.entries(samples)) {
      const rt = new TestRuntime([definition]);
      const ref = { type: definition.type, id: 'm1' };
      const data = dataFor(from);
      rt.seed(ref, { state: from, data });
      const event = sample(data, from);
      let detail: string;
      let outcome: TableOutcome['outcome'];
      try {
        await rt.request(ref, event);
        outcome = rt.trace.some((t) => t.outcome === 'failed') ? 'failed' : 'ok';
        detail = rt.deadLetters.map((d) => d.reason).join('; ');
      } catch (error) {
        const failed = rt.trace.some((t) => t.outcome === 'failed');
        outcome = failed ? 'failed' : 'refused';
        detail = error instanceof Error ? error.message : String(error);
      }
      outcomes.push({ from, event: eventType, declared: accepted.has(eventType), outcome, to: rt.stateOf(ref), detail });
    }
  }
  return outcomes;
}

/** What is wrong with a table: a declared pair not handled, an undeclared one accepted, a target not declared. */
export function tableProblems(definition: AnyMachineDefinition, outcomes: readonly TableOutcome[], samples: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const o of outcomes) {
    if (o.declared && o.outcome !== 'ok') problems.push(`${o.from} + ${o.event}: declared but ${o.outcome}: ${o.detail}`);
    if (!o.declared && o.outcome !== 'refused') problems.push(`${o.from} + ${o.event}: not declared but ${o.outcome}`);
    if (o.declared && o.to !== o.from) {
      const targets = definition.transitions().find((t) => t.from === o.from && t.event === o.event)?.targets ?? [];
      if (!targets.includes(o.to)) problems.push(`${o.from} + ${o.event} went to ${o.to}, not among its declared targets [${targets.join(', ')}]`);
    }
  }
  // Every event type a state accepts must have a sample, so no declared pair goes untested.
  for (const t of definition.transitions()) if (!(t.event in samples)) problems.push(`no sample event for ${t.event}`);
  return problems;
}
