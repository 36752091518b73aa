import { BadRequestException } from '@nestjs/common';
import { z } from 'zod';
import { ADMIN_MAX_LIMIT, isRowId } from '../store/admin-store.js';
import { badTextReason } from './http-input.js';

/**
 * Schemas of the admin routes' query strings and bodies. Every parameter is a single value (a
 * repeated one arrives as an array and is refused), unknown parameters are refused (a misspelt
 * filter must not silently list everything), texts are bounded and storable, limits and cursors
 * are checked here before any SQL runs.
 */

/** A bounded text Postgres can store and JSON can carry. */
export const adminText = (max: number) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `at most ${max} characters`)
    .superRefine((value, ctx) => {
      const reason = badTextReason(value);
      if (reason !== undefined) ctx.addIssue({ code: 'custom', message: reason });
    });

const limit = (max: number) =>
  z
    .string()
    .regex(/^\d{1,6}$/, 'a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1, 'at least 1').max(max, `at most ${max}`));

const rowId = z.string().refine(isRowId, 'a dead letter id (a positive whole number)');
const cursor = adminText(2_000).refine((value) => /^[A-Za-z0-9_-]+$/.test(value), 'a cursor from a previous page');

export const machinesQuery = z.strictObject({
  type: adminText(200).optional(),
  state: adminText(200).optional(),
  status: z.enum(['active', 'halted', 'faulted']).optional(),
  idPrefix: adminText(512).optional(),
  limit: limit(ADMIN_MAX_LIMIT).optional(),
  after: cursor.optional(),
});

export const countsQuery = z.strictObject({ type: adminText(200).optional() });

export const inspectQuery = z.strictObject({ limit: limit(ADMIN_MAX_LIMIT).optional() });

export const deadLettersQuery = z.strictObject({
  type: adminText(200).optional(),
  machineId: adminText(512).optional(),
  reason: adminText(200).optional(),
  status: z.enum(['open', 'redriven', 'all']).optional(),
  /** Kept from the first version of the route: `all=true` is `status=all`. */
  all: z.enum(['true', 'false']).optional(),
  limit: limit(ADMIN_MAX_LIMIT).optional(),
  after: rowId.optional(),
});

export const gapsQuery = z.strictObject({
  limit: limit(1_000).optional(),
  olderThanMs: z.string().regex(/^\d{1,9}$/, 'a whole number of milliseconds').transform(Number).optional(),
});

const seqNumber = (min: number) => z.number().int('a whole number').min(min, `at least ${min}`).max(Number.MAX_SAFE_INTEGER, 'too large');

/**
 * A gap skip names the gap it is meant for, as `GET /rsm/gaps` showed it (`epoch`, `missingFrom`,
 * `nextBuffered - 1`): a repeated call, or a gap that changed since, skips nothing.
 */
export const gapSkipBody = z
  .strictObject({
    by: adminText(1_000).refine((value) => value.trim() !== '', 'must not be blank'),
    reason: adminText(1_000).refine((value) => value.trim() !== '', 'must not be blank'),
    epoch: seqNumber(0),
    fromSeq: seqNumber(1),
    toSeq: seqNumber(1),
  })
  .refine((body) => body.toSeq >= body.fromSeq, { path: ['toSeq'], message: 'at least fromSeq' });

export const auditQuery = z.strictObject({
  action: z.enum(['dead-letters.redrive', 'dead-letters.discard', 'gaps.skip']).optional(),
  limit: limit(ADMIN_MAX_LIMIT).optional(),
  after: rowId.optional(),
});

export const letterIdsBody = z.strictObject({
  ids: z.array(rowId).min(1, 'at least one id').max(ADMIN_MAX_LIMIT, `at most ${ADMIN_MAX_LIMIT} ids a call`),
});

/** The name an operator gives in `X-Rsm-Actor`: 1-100 printable characters. */
export const actorHeader = z
  .string()
  .min(1, 'must not be empty')
  .max(100, 'at most 100 characters')
  .regex(/^[\x20-\x7e]+$/, 'printable ASCII')
  .transform((value) => value.trim())
  .pipe(z.string().min(1, 'must not be blank'));

/** `value` parsed by `schema`, or a 400 naming each bad field (under `where`: `query`, `body`, a header). */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw new BadRequestException({
    statusCode: 400,
    error: 'Bad Request',
    message: `invalid ${where}`,
    fields: result.error.issues.map((issue) => ({
      path: [where, ...issue.path.map(String)].join('.'),
      message: issue.code === 'unrecognized_keys' ? `unknown parameter(s): ${issue.keys.join(', ')}` : issue.message,
    })),
  });
}
