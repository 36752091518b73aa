export * from './routes.js';
export * from './delivery-request.js';
export type * from './events.js';
export * from './event-schemas.js';
