import { createHmac, timingSafeEqual } from 'node:crypto';

/** What travels through Redis: a JSON body and its HMAC, computed with a key Redis never sees. */
export interface SignedEnvelope {
  readonly v: 1;
  readonly body: string;
  readonly sig: string;
}

/** The kinds of item the runtime puts in Redis; each is signed under its own name. */
export type SignedKind = 'job' | 'drain' | 'ack' | 'reply';

export type OpenResult = { readonly ok: true; readonly payload: unknown } | { readonly ok: false; readonly reason: 'malformed' | 'bad_signature' };

/**
 * Signs and checks everything the runtime puts in Redis (HMAC-SHA256). It signs with the first
 * key and accepts any of them, so a key can be rotated: add the new key second, deploy, swap the
 * two, deploy, drop the old one. The kind is part of what is signed, so an acknowledgement can
 * never pass for a job or a reply. The body is signed as the exact string that travels, so no
 * canonical JSON is needed.
 *
 * @example
 * const signer = new MessageSigner([key]);
 * const sealed = signer.seal('ack', { ids: ['1'] });
 * signer.open('ack', sealed); // { ok: true, payload: { ids: ['1'] } }
 */
export class MessageSigner {
  private readonly keys: readonly Buffer[];

  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new Error('at least one signing key is needed');
    this.keys = keys.map((key) => Buffer.from(key, 'utf8'));
  }

  seal(kind: SignedKind, payload: object): SignedEnvelope {
    const body = JSON.stringify(payload);
    return { v: 1, body, sig: this.mac(this.keys[0] as Buffer, kind, body) };
  }

  /** The payload of a well-formed envelope signed with one of the keys; otherwise why not. */
  open(kind: SignedKind, raw: unknown): OpenResult {
    if (typeof raw !== 'object' || raw === null) return { ok: false, reason: 'malformed' };
    const { v, body, sig } = raw as Partial<Record<keyof SignedEnvelope, unknown>>;
    if (v !== 1 || typeof body !== 'string' || typeof sig !== 'string' || sig.length > 100) return { ok: false, reason: 'malformed' };
    const given = Buffer.from(sig, 'base64url');
    const valid = this.keys.some((key) => {
      const expected = Buffer.from(this.mac(key, kind, body), 'base64url');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
    if (!valid) return { ok: false, reason: 'bad_signature' };
    try {
      return { ok: true, payload: JSON.parse(body) as unknown };
    } catch {
      return { ok: false, reason: 'malformed' };
    }
  }

  private mac(key: Buffer, kind: SignedKind, body: string): string {
    return createHmac('sha256', key).update(`rsm/v1/${kind}\n`).update(body).digest('base64url');
  }
}
