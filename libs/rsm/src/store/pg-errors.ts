/** SQLSTATEs and connection failures after which a transaction can simply be run again. */
const RETRYABLE_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '57P01', // admin_shutdown (Postgres restarting)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
  '53300', // too_many_connections
  '55P03', // lock_not_available
]);

/**
 * Whether a statement failed for a reason that is not its own and that passes: a serialization
 * failure or deadlock, a server restarting, too many connections, a lock not available, the
 * statement timeout, or Postgres unreachable. The dispatcher runs such a transaction again without
 * counting an attempt against the event; the apps' HTTP layer answers it 503 with Retry-After.
 *
 * @example
 * if (isRetryablePgError(error)) response.status(503).setHeader('Retry-After', '1');
 */
export function isRetryablePgError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && RETRYABLE_SQLSTATES.has(code)) return true;
  // statement_timeout: a lock held by a stalled process or an overloaded server, not the event's
  // fault; counting it as a failed attempt would dead-letter events during an outage.
  if (code === '57014') return true;
  return isConnectionFailure(error);
}

/**
 * Postgres could not be reached or stopped answering: refused or broken connections, the pool's
 * connect deadline, the client's query deadline (`query_timeout`), a server shutting down.
 */
export function isConnectionFailure(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || code.startsWith('57P'))) return true;
  if (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(code)) return true;
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|connection is closed|Client has encountered a connection error|timeout exceeded when trying to connect|terminating connection|Query read timeout/i.test(
    message,
  );
}

/** Capped exponential backoff with jitter, for retrying infrastructure failures. */
export function infraBackoffMs(attempt: number, capMs = 2_000): number {
  const base = Math.min(capMs, 10 * 2 ** Math.min(attempt, 12));
  return base / 2 + Math.random() * (base / 2);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
