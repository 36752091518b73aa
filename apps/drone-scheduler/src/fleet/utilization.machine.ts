import { defineMachine } from '#rsm';
import { ownDelete, ownGet, ownSet, type UtilizationEvents } from '#contracts';

export interface UtilizationData {
  /** Completed deliveries per month (`YYYY-MM`), the last {@link MONTHS_KEPT} months. */
  months: Record<string, number>;
}

/** Months of history an owner's utilization keeps. */
export const MONTHS_KEPT = 36;

/**
 * One owner's completed deliveries per month (machine id: the owner id). Each owner has its own
 * machine, so counting a delivery costs the same however many owners and months there are, and
 * the Fleet, which every assignment goes through, carries none of it.
 */
export const Utilization = defineMachine<UtilizationData, UtilizationEvents>()({
  type: 'Utilization',
  initial: 'Counting',
  initialData: () => ({ months: {} }),
  states: {
    Counting: {
      on: {
        Open: () => undefined,
        Delivered: (data, event) => {
          const month = event.at.slice(0, 7);
          ownSet(data.months, month, (ownGet(data.months, month) ?? 0) + 1);
          const months = Object.keys(data.months).sort();
          for (const old of months.slice(0, Math.max(0, months.length - MONTHS_KEPT))) ownDelete(data.months, old);
        },
      },
    },
  },
});
