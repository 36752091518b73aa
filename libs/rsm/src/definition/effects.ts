import type { Json, MachineRef, RsmEvent } from './types.js';

/** Everything a handler asked for; applied by the runtime in the step's transaction. */
export type Effect =
  | { readonly kind: 'send'; readonly to: MachineRef; readonly event: RsmEvent }
  | { readonly kind: 'create'; readonly to: MachineRef; readonly event: RsmEvent }
  | {
      readonly kind: 'startTimer';
      readonly name: string;
      readonly delayMs: number;
      readonly periodMs: number | null;
      readonly payload: Json | null;
    }
  | { readonly kind: 'cancelTimer'; readonly name: string }
  | {
      readonly kind: 'call';
      readonly activity: string;
      readonly input: Json;
      readonly callId: string;
      readonly idempotencyKey: string;
    }
  | { readonly kind: 'reply'; readonly value: Json };

export type SendEffect = Extract<Effect, { kind: 'send' | 'create' }>;
export type TimerStartEffect = Extract<Effect, { kind: 'startTimer' }>;
export type CallEffect = Extract<Effect, { kind: 'call' }>;
