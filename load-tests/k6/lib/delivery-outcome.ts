// How a polled delivery ended and whether that was the expected end, as plain code shared by the
// k6 scripts and the Node tests.

export type DeliveryEnd = 'completed' | 'cancelled' | 'failed';

/** The end a saga state means, or undefined while the delivery is still under way. */
export function deliveryEnd(sagaState: string): DeliveryEnd | undefined {
  if (sagaState === 'Completed') return 'completed';
  if (sagaState === 'Cancelled') return 'cancelled';
  if (sagaState === 'Failed') return 'failed';
  return undefined;
}

/**
 * Whether an end is what the client asked for. Without a cancel, only Completed. With one, Cancelled
 * or Completed: the workflow cancels before pickup and refuses after, so a drawn cancel is no reason
 * to fail a run. Failed is never expected: no step of an unloaded stack should time out.
 */
export function endedAsExpected(end: DeliveryEnd, cancelAsked: boolean): boolean {
  return end === 'completed' || (end === 'cancelled' && cancelAsked);
}
