export { checkInvariants, formatResults } from './invariants.js';
export type { InvariantResult, VerifyOptions } from './invariants.js';
export { defaultUrls, readSnapshot } from './suite-snapshot.js';
export type { DeadLetterView, DeliveryView, DroneView, PackageView, SagaView, SuiteSnapshot, SuiteUrls } from './suite-snapshot.js';
export { isQuiet, waitUntilQuiet } from './quiet.js';
