import type { Json, MachineRef, RsmEvent } from '../definition/types.js';

/** How an intake item ended, as its caller sees it. */
export type IntakeResult =
  | { readonly status: 'handled'; readonly reply: Json | undefined }
  | { readonly status: 'accepted' }
  | { readonly status: 'duplicate' }
  | { readonly status: 'exists' };

/**
 * An event from outside any machine (a controller, a script), waiting for the next step transaction
 * of its machine. It becomes durable in that transaction, either handled there or written to the
 * inbox; its promise settles only after the commit.
 */
export interface IntakeItem {
  readonly kind: 'send' | 'create' | 'request';
  readonly ref: MachineRef;
  readonly event: RsmEvent;
  /** Idempotency key: a repeated key is a duplicate and changes nothing. */
  readonly key: string | undefined;
  readonly eventId: string;
  readonly enqueuedAt: number;
  cancelled: boolean;
  resolve(result: IntakeResult): void;
  reject(error: Error): void;
}
