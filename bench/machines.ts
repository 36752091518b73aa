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

/** Soak: a Source (one service) forwards each Emit to the Sink it names (another service). */
export const Source = defineMachine<{ sent: number }, { type: 'Emit'; to: string }>()({
  type: 'Source',
  initial: 'Open',
  initialData: () => ({ sent: 0 }),
  states: {
    Open: {
      on: {
        Emit: (data, event, ctx) => {
          data.sent += 1;
          ctx.send({ type: 'Sink', id: event.to }, { type: 'Tick' });
        },
      },
    },
  },
});

export const Sink = defineMachine<{ total: number }, { type: 'Tick' }>()({
  type: 'Sink',
  initial: 'Open',
  initialData: () => ({ total: 0 }),
  states: { Open: { on: { Tick: (data) => void (data.total += 1) } } },
});
