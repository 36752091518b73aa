import { z } from 'zod';
import { MAX_REPORTED_LAG_MS } from '../core/messages.js';
import { MAX_MESSAGES_PER_JOB } from '../core/rsm-options.js';
import { MACHINE_TYPE_PATTERN, MAX_ID_BYTES, MAX_TYPE_LENGTH } from '../definition/types.js';

/**
 * What a signed item must hold once opened. A signature proves who wrote an item, not that the
 * writer (or a bug in it) wrote something sensible: every field the runtime relies on is checked
 * before anything reads it.
 */

const SERVICE = /^[a-z][a-z0-9-]{0,40}$/;

const service = z.string().regex(SERVICE);
const at = z.number().int().nonnegative();
const machineRef = z.object({
  type: z.string().max(MAX_TYPE_LENGTH).regex(MACHINE_TYPE_PATTERN),
  id: z
    .string()
    .min(1)
    .refine((id) => Buffer.byteLength(id, 'utf8') <= MAX_ID_BYTES, `at most ${MAX_ID_BYTES} bytes`),
});
const outboxId = z.string().regex(/^[1-9]\d{0,18}$/);

export const remoteMessageSchema = z.object({
  outboxId,
  kind: z.enum(['event', 'create', 'retire']),
  sender: machineRef,
  to: machineRef,
  // A retire carries the last number of the numbering it retires (a counter row numbers at least one).
  seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  epoch: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  event: z.looseObject({ type: z.string().min(1).max(MAX_TYPE_LENGTH) }),
});

export const inboundJobSchema = z.object({
  from: service,
  to: service,
  at,
  messages: z.array(remoteMessageSchema).min(1).max(MAX_MESSAGES_PER_JOB),
});

export const ackSchema = z.object({
  from: service,
  to: service,
  at,
  ids: z.array(outboxId).min(1).max(100_000),
  /** How far behind the acknowledging service and those downstream of it are (admission control). */
  load: z
    .record(service, z.object({ lagMs: z.number().int().min(0).max(MAX_REPORTED_LAG_MS), at }))
    .refine((r) => Object.keys(r).length <= 64, 'at most 64 services')
    .optional(),
});

export const drainSchema = z.object({
  service,
  key: z.string().min(3).max(MAX_ID_BYTES + 250),
});

export const replySchema = z.object({
  service,
  at,
  reply: z.union([
    z.object({ key: z.string().min(1), ok: z.literal(true), value: z.json().nullable() }),
    z.object({ key: z.string().min(1), ok: z.literal(false), kind: z.enum(['rejected', 'failed']), reason: z.string() }),
  ]),
});
