export { TestRuntime, TestRequestError } from './test-runtime.js';
export type { OutboundEvent, PendingCall, TestMachine, TraceEntry } from './test-runtime.js';
