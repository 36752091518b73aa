import { createHash, timingSafeEqual } from 'node:crypto';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * What is wrong with a string no part of the system should store, or undefined: Postgres text
 * refuses NUL, JSON has no lone surrogates.
 *
 * @example
 * badTextReason('a\u0000b'); // 'contains a NUL character'
 */
export function badTextReason(value: string): string | undefined {
  if (value.includes('\u0000')) return 'contains a NUL character';
  if (LONE_SURROGATE.test(value)) return 'contains a lone UTF-16 surrogate';
  return undefined;
}

/**
 * The token of an `Authorization: Bearer <token>` header: undefined when there is no header, null
 * when it is there but not of that form (a token is 1-512 printable ASCII characters).
 */
export function bearerToken(header: unknown): string | null | undefined {
  if (typeof header !== 'string') return undefined;
  return /^Bearer ([\x21-\x7e]{1,512})$/.exec(header)?.[1] ?? null;
}

/** Known bearer tokens, kept as SHA-256 digests, each standing for a value (a role, a principal). */
export class TokenDigests<T> {
  private readonly entries: { digest: Buffer; value: T }[] = [];

  add(token: string, value: T): void {
    this.entries.push({ digest: TokenDigests.digest(token), value });
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * The value of a presented token, compared with every known digest in constant time (equal
   * lengths, no early exit), so timing tells nothing about which token, or how much of one, matched.
   */
  find(presented: string): T | undefined {
    const candidate = TokenDigests.digest(presented);
    let found: T | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, candidate) && found === undefined) found = entry.value;
    }
    return found;
  }

  private static digest(value: string): Buffer {
    return createHash('sha256').update(value).digest();
  }
}
