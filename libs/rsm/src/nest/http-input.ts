import { createHash, timingSafeEqual } from 'node:crypto';

export { badTextReason } from '../definition/json-text.js';

/**
 * The token of an `Authorization: Bearer <token>` header: undefined when there is no header, null
 * when it is there but not of that form (a token is 1-512 printable ASCII characters).
 */
export function bearerToken(header: unknown): string | null | undefined {
  if (typeof header !== 'string') return undefined;
  // The scheme's name is case-insensitive (RFC 9110): `bearer` and `BEARER` are the same.
  return /^Bearer ([\x21-\x7e]{1,512})$/i.exec(header)?.[1] ?? null;
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
