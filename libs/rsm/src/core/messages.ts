import type { Json, MachineRef, RsmEvent } from '../definition/types.js';

/** A message between services, as stored in the sender's outbox and carried by BullMQ. */
export interface RemoteMessage {
  readonly outboxId: string;
  /** `retire` is the runtime's own: the sender retired numbering `epoch`, whose last number was `seq`. */
  readonly kind: 'event' | 'create' | 'retire';
  readonly sender: MachineRef;
  readonly to: MachineRef;
  readonly seq: number;
  /** The pair's numbering `seq` belongs to; absent (from before epochs) means 0. */
  readonly epoch?: number;
  readonly event: RsmEvent;
}

/** An outbox row as the relay publishes it. */
export interface OutboxEntry {
  readonly id: string;
  readonly destination: string;
  readonly message: RemoteMessage;
}

/** A recorded activity call, as its runner attempts it. */
export interface ActivityEntry {
  readonly id: string;
  readonly machineType: string;
  readonly machineId: string;
  readonly activity: string;
  readonly callId: string;
  readonly idempotencyKey: string;
  readonly input: Json;
  readonly attempts: number;
}

/** The outcome of a request handled from the inbox, for whoever waits on its key. */
export type KeyedReply =
  | { readonly key: string; readonly ok: true; readonly value: Json | null }
  | { readonly key: string; readonly ok: false; readonly kind: 'rejected' | 'failed'; readonly reason: string };

/** A batch of messages from one service, as a BullMQ job carries it. */
export interface InboundJob {
  readonly from: string;
  readonly messages: readonly RemoteMessage[];
}

/** The largest lag a report carries (a day): receivers refuse a larger figure, with the whole acknowledgement. */
export const MAX_REPORTED_LAG_MS = 86_400_000;

/** A service's lag as measured by itself at `at` (ms since epoch), carried in acknowledgements. */
export interface LagReport {
  readonly lagMs: number;
  readonly at: number;
}

/** A gap's missing sequence numbers: `fromSeq` to `toSeq` of the pair's numbering `epoch`. */
export interface GapNumbers {
  readonly epoch: number;
  readonly fromSeq: number;
  readonly toSeq: number;
}
