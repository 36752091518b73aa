export * from './routes.js';
export * from './delivery-request.js';
export type * from './events.js';
export { canonicalJson, fingerprint } from './fingerprint.js';
export { appendBounded, ownDelete, ownGet, ownHas, ownSet } from './safe-record.js';
export * from './event-schemas.js';
export * from './refs.js';
