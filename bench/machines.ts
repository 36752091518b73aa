import { defineMachine } from '#rsm';

/** The keyed workloads' machine: an exactly-once increment that answers with the new total. */
export const Account = defineMachine<{ total: number }, { type: 'Open' } | { type: 'Add'; n: number }>()({
  type: 'Account',
  initial: 'Open',
  initialData: () => ({ total: 0 }),
  states: {
    Open: {
      on: {
        Open: () => undefined,
        Add: (data, event, ctx) => {
          data.total += event.n;
          ctx.reply(data.total);
        },
      },
    },
  },
});

/** Hop timestamps of the ping-pong workload, recorded by the handlers (bench only). */
export const hops: number[] = [];

type BallEvents = { type: 'Serve'; hops: number } | { type: 'Hit'; n: number; hops: number };

const hit = (other: string) => (_data: { n: number }, event: { n: number; hops: number }, ctx: { send: (to: { type: string; id: string }, e: { type: 'Hit'; n: number; hops: number }) => void }) => {
  hops.push(performance.now());
  if (event.n < event.hops) ctx.send({ type: other, id: 'ball' }, { type: 'Hit', n: event.n + 1, hops: event.hops });
};

/** Ping lives in one service, Pong in another: every hop crosses services through outbox, BullMQ and inbox. */
export const Ping = defineMachine<{ n: number }, BallEvents>()({
  type: 'Ping',
  initial: 'Playing',
  initialData: () => ({ n: 0 }),
  states: {
    Playing: {
      on: {
        Serve: (_data, event, ctx) => {
          hops.push(performance.now());
          ctx.send({ type: 'Pong', id: 'ball' }, { type: 'Hit', n: 1, hops: event.hops });
        },
        Hit: hit('Pong'),
      },
    },
  },
});

export const Pong = defineMachine<{ n: number }, BallEvents>()({
  type: 'Pong',
  initial: 'Playing',
  initialData: () => ({ n: 0 }),
  states: { Playing: { on: { Serve: () => undefined, Hit: hit('Ping') } } },
});

/** Soak: takes a keyed request, answers it, and forwards a Ping to its fixed Sink in the other service. */
export const Relay = defineMachine<{ n: number }, { type: 'Fwd'; sink: string }>()({
  type: 'Relay',
  initial: 'Open',
  initialData: () => ({ n: 0 }),
  states: {
    Open: {
      on: {
        Fwd: (data, event, ctx) => {
          data.n += 1;
          ctx.send({ type: 'Sink', id: event.sink }, { type: 'Ping', n: data.n });
          ctx.reply(data.n);
        },
      },
    },
  },
});

/** Soak: counts the pings of its relays (another service: outbox, queue, inbox, pair sequence). */
export const Sink = defineMachine<{ pings: number }, { type: 'Ping'; n: number }>()({
  type: 'Sink',
  initial: 'Open',
  initialData: () => ({ pings: 0 }),
  states: { Open: { on: { Ping: (data) => void (data.pings += 1) } } },
});

/** Soak: a short-lived machine per request (created, one step, halted): churn that halted-machine retention must keep bounded. */
export const Job = defineMachine<{ done: boolean }, { type: 'Run' }>()({
  type: 'Job',
  initial: 'New',
  initialData: () => ({ done: false }),
  states: {
    New: {
      on: {
        Run: (data, _event, ctx) => {
          data.done = true;
          ctx.halt();
        },
      },
    },
  },
});

/** Entries the hot-machine workload's Ledger holds: about 17 KB of data, like a busy Fleet's. */
export const LEDGER_ENTRIES = 400;

/** The initial entries of the Ledger (also the raw baseline's row). */
export function ledgerEntries(): Record<string, string> {
  return Object.fromEntries(Array.from({ length: LEDGER_ENTRIES }, (_, i) => [`delivery-0123456789-${i}`, `drone-${i}`]));
}

/**
 * The hot-machine workload: one machine every client writes to, with data the size of a busy
 * Fleet's, each event replacing one entry (so the data keeps its size) and counting.
 */
export const Ledger = defineMachine<{ entries: Record<string, string>; total: number }, { type: 'Open' } | { type: 'Note'; key: number }>()({
  type: 'Ledger',
  initial: 'Open',
  initialData: () => ({ entries: ledgerEntries(), total: 0 }),
  states: {
    Open: {
      on: {
        Open: () => undefined,
        Note: (data, event) => {
          data.entries[`delivery-0123456789-${event.key % LEDGER_ENTRIES}`] = `drone-${event.key}`;
          data.total += 1;
        },
      },
    },
  },
});
