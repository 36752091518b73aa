/**
 * Type-level tests: compiled by `npm run typecheck` (and by the build), never run. Each
 * `@ts-expect-error` line is a wrong use that must not compile: if it ever compiles, the directive
 * itself becomes an error and the check fails. The lines without one are right uses that must compile.
 */
import { defineMachine, RsmRuntime, type ActivityOutcome, type ActivityRef, type MachineRef, type MachineVersion, type MigrationChain, type Migrations, type StepContext } from '#rsm';
import { TestRuntime } from '#rsm/testing';

type CounterEvents = { type: 'Add'; n: number } | { type: 'Close' } | ActivityOutcome<typeof audit>;
type CounterReplies = { Add: number; Close: 'closed' };

const audit: ActivityRef<'audit', { total: number }, { stored: boolean }> = { name: 'audit' };

const Counter = defineMachine<{ total: number }, CounterEvents, CounterReplies>()({
  type: 'Counter',
  initial: 'Open',
  initialData: () => ({ total: 0 }),
  states: {
    Open: {
      on: {
        Add: (data, event, ctx) => {
          data.total += event.n;
          ctx.reply(data.total);
          ctx.call(audit, { total: data.total });
          // @ts-expect-error the activity's input has no field `sum`
          ctx.call(audit, { sum: data.total });
          // @ts-expect-error the activity's input needs `total` as a number
          ctx.call(audit, { total: 'many' });
          // @ts-expect-error Add answers a number
          ctx.reply('many');
        },
        Close: (_data, _event, ctx) => {
          ctx.goto('Closed');
          ctx.reply('closed');
          // @ts-expect-error no such state
          ctx.goto('Nowhere');
        },
        ActivityCompleted: (_data, event) => {
          const stored: boolean = event.output.stored;
          // @ts-expect-error the output has no field `status`
          void event.output.status;
          void stored;
        },
      },
      targets: { Close: 'Closed' },
    },
    Closed: {},
  },
});

type OtherEvents = { type: 'Ping'; from: string };
const Other = defineMachine<{ pings: number }, OtherEvents>()({
  type: 'Other',
  initial: 'Up',
  initialData: () => ({ pings: 0 }),
  states: {
    Up: {
      on: {
        Ping: (data, _event, ctx) => {
          data.pings += 1;
          ctx.send(Counter.ref('c1'), { type: 'Add', n: 1 });
          ctx.create(Counter.ref('c1'), { type: 'Close' });
          // @ts-expect-error Counter accepts no Bogus
          ctx.send(Counter.ref('c1'), { type: 'Bogus' });
          // @ts-expect-error Add carries `n`, not `count`
          ctx.send(Counter.ref('c1'), { type: 'Add', count: 1 });
          // @ts-expect-error Add's `n` is a number
          ctx.send(Counter.ref('c1'), { type: 'Add', n: '1' });
          // @ts-expect-error Ping is Other's event, not Counter's
          ctx.send(Counter.ref('c1'), { type: 'Ping', from: 'x' });
          // An untyped ref takes any event (for tools and tests).
          ctx.send({ type: 'Counter', id: 'c1' }, { type: 'Anything', at: 1 });
        },
      },
      // @ts-expect-error targets name only declared states
      targets: { Ping: 'Down' },
    },
  },
});

// A ref of one machine is not a ref of another.
const counterRef: MachineRef<CounterEvents> = Counter.ref('c1');
// @ts-expect-error Other's ref carries other events
const wrongRef: MachineRef<CounterEvents> = Other.ref('o1');
void counterRef;
void wrongRef;

// Targets are keyed by the state's events.
defineMachine<object, { type: 'Go' }>()({
  type: 'T',
  initial: 'A',
  initialData: () => ({}),
  // @ts-expect-error targets name only the machine's events
  states: { A: { on: { Go: () => undefined }, targets: { Stop: 'B' } }, B: {} },
});

export async function runtimeUses(rsm: RsmRuntime, rt: TestRuntime): Promise<void> {
  const total: number = await rsm.request(Counter.ref('c1'), { type: 'Add', n: 2 });
  const closed: 'closed' = await rsm.request(Counter.ref('c1'), { type: 'Close' });
  // @ts-expect-error Add answers a number, not a string
  const wrong: string = await rsm.request(Counter.ref('c1'), { type: 'Add', n: 2 });
  // @ts-expect-error Counter accepts no Bogus
  await rsm.request(Counter.ref('c1'), { type: 'Bogus' });
  await rsm.send(Counter.ref('c1'), { type: 'Add', n: 1 });
  // @ts-expect-error Add carries `n`
  await rsm.send(Counter.ref('c1'), { type: 'Add' });
  await rsm.create(Counter.ref('c1'), { type: 'Close' });
  // @ts-expect-error Counter accepts no Ping
  await rsm.create(Counter.ref('c1'), { type: 'Ping', from: 'x' });
  const view = await rsm.get(Counter.ref('c1'));
  const sum: number | undefined = view?.data.total;
  // @ts-expect-error Counter's data has no `pings`
  void view?.data.pings;
  const inspection = await rsm.inspect(Other.ref('o1'));
  const pings: number | undefined = inspection?.data.pings;
  const listed: number[] = (await rsm.list(Counter)).map((m) => m.data.total);
  const testTotal: number = await rt.request(Counter.ref('c1'), { type: 'Add', n: 1 });
  // @ts-expect-error Counter accepts no Bogus
  await rt.send(Counter.ref('c1'), { type: 'Bogus' });
  const testData: number | undefined = rt.get(Counter.ref('c1'))?.data.total;
  void [total, closed, wrong, sum, pings, listed, testTotal, testData];
}

// A helper taking a context of any reply type still type-checks its sends.
export function helper(ctx: StepContext<'Open'>): void {
  // @ts-expect-error Counter accepts no Bogus
  ctx.send(Counter.ref('c1'), { type: 'Bogus' });
}

// Versioned machines: a chain typed from the current version back, each step against the next.
type PostV1 = MachineVersion<{ kg: number }, 'Open' | 'Paused' | 'Lost', { type: 'Add'; kg: number } | { type: 'Pause' }>;
type PostV2 = MachineVersion<{ grams: number }, 'Open' | 'Lost', { type: 'Add'; grams: number }>;
type PostEvents = { type: 'Add'; grams: number } | { type: 'Close' };
const post = (migrations: (m: Migrations<MachineVersion<{ grams: number; max: number }, 'Open' | 'Closed', PostEvents>>) => MigrationChain) =>
  defineMachine<{ grams: number; max: number }, PostEvents>()({
    type: 'Post',
    version: 3,
    initial: 'Open',
    initialData: () => ({ grams: 0, max: 10 }),
    migrations,
    states: { Open: { on: { Add: () => undefined, Close: (_d, _e, ctx) => ctx.goto('Closed') }, targets: { Close: 'Closed' } }, Closed: {} },
  });
post((m) =>
  m
    .from<PostV2>(2, { data: (old) => ({ ...old, max: 100 }), states: { Lost: 'Closed' } })
    .from<PostV1>(1, { data: (old) => ({ grams: old.kg * 1_000 }), states: { Paused: 'Open' } })
    .upcast({ Add: (e) => ('kg' in e ? { type: 'Add', grams: e.kg * 1_000 } : e), Pause: () => ({ type: 'Close' }) }),
);
// @ts-expect-error a typo in a target state: v3 has no state Closd
post((m) => m.from<PostV2>(2, { data: (old) => ({ ...old, max: 100 }), states: { Lost: 'Closd' } }));
// @ts-expect-error a state v3 no longer has (Lost) must be mapped
post((m) => m.from<PostV2>(2, { data: (old) => ({ ...old, max: 100 }) }));
// @ts-expect-error the data of v2 lacks `max`: a data migration is required
post((m) => m.from<PostV2>(2, { states: { Lost: 'Closed' } }));
// @ts-expect-error an intermediate step is typed against v2: v2 has no state Closed
post((m) => m.from<PostV2>(2, { data: (old) => ({ ...old, max: 1 }), states: { Lost: 'Closed' } }).from<PostV1>(1, { data: (old) => ({ grams: old.kg }), states: { Paused: 'Closed' } }));
// @ts-expect-error v1 has no state Gone to map
post((m) => m.from<PostV2>(2, { data: (old) => ({ ...old, max: 1 }), states: { Lost: 'Closed' } }).from<PostV1>(1, { data: (old) => ({ grams: old.kg }), states: { Paused: 'Open', Gone: 'Open' } }));
// @ts-expect-error the data migration returns v2's data, which has `grams`
post((m) => m.from<PostV2>(2, { data: (old) => ({ ...old, max: 1 }), states: { Lost: 'Closed' } }).from<PostV1>(1, { data: (old) => ({ kg: old.kg }), states: { Paused: 'Open' } }));
// @ts-expect-error an upcaster returns a current event: Pause is gone
post((m) => m.from<PostV2>(2, { data: (old) => ({ ...old, max: 1 }), states: { Lost: 'Closed' } }).from<PostV1>(1, { data: (old) => ({ grams: old.kg }), states: { Paused: 'Open' } }).upcast({ Pause: (e) => e }));
// @ts-expect-error no version declared an event Bogus
post((m) => m.upcast({ Bogus: () => ({ type: 'Close' }) }));
// @ts-expect-error an upcaster of a type both versions have gets either shape: `kg` may be absent
post((m) => m.from<PostV2>(2, { data: (old) => ({ ...old, max: 1 }), states: { Lost: 'Closed' } }).from<PostV1>(1, { data: (old) => ({ grams: old.kg }), states: { Paused: 'Open' } }).upcast({ Add: (e) => ({ type: 'Add', grams: e.kg }) })); // eslint-disable-line @typescript-eslint/no-unsafe-assignment
// Inline in the declaration, the current version's states come from `states`.
defineMachine<{ n: number }, { type: 'Go' }>()({
  type: 'Inline',
  version: 2,
  initial: 'A',
  initialData: () => ({ n: 0 }),
  // @ts-expect-error the machine has no state C
  migrations: (m) => m.from<MachineVersion<{ n: number }, 'A' | 'Old', { type: 'Go' }>>(1, { states: { Old: 'C' } }),
  states: { A: { on: { Go: (_d, _e, ctx) => ctx.goto('B') }, targets: { Go: 'B' } }, B: {} },
});
