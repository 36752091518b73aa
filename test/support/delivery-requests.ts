/**
 * Valid delivery requests for the suite's tests, each with its own pickup, drop-off and package,
 * and every kind of confirmation in turn (the simulator must send the one each delivery asks for).
 * Each call of `deliveryRequests` numbers its own; `tag` marks the packages of one test.
 */
export function deliveryRequests(tag: string, deadlineMs: number) {
  let sequence = 0;
  return (overrides: Record<string, unknown> = {}, packageOverrides: Record<string, unknown> = {}) => {
    sequence += 1;
    const now = Date.now();
    return {
      ownerId: 'o1',
      pickupLocation: `pickup ${sequence}`,
      dropOffLocation: `drop ${sequence}`,
      pickupTime: new Date(now).toISOString(),
      deadline: new Date(now + deadlineMs).toISOString(),
      expedited: false,
      confirmationRequired: (['None', 'FingerPrint', 'Picture', 'Voice'] as const)[sequence % 4],
      packageInfo: { packageId: `pkg-${tag}-${sequence}-${Math.random().toString(36).slice(2, 8)}`, size: 'Small', weight: 3, tag, ...packageOverrides },
      ...overrides,
    };
  };
}
