import { z } from 'zod';
import { TokenDigests } from '#rsm/nest';
import { MAX_OWNERS_PER_KEY } from '#contracts';

/** Who is calling: a customer (bound to its owner ids), a device or service, or an operator. */
export type Principal =
  | { readonly role: 'customer'; readonly owners: ReadonlySet<string> }
  | { readonly role: 'service' }
  | { readonly role: 'operator' };
export type Role = Principal['role'];

/** An owner id: the same charset as every other id of the API. */
export const OWNER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** A key long and random enough to be a bearer credential, in characters safe in headers and env files. */
const key = z.string().regex(/^[A-Za-z0-9_-]{24,200}$/, 'keys are 24-200 characters of A-Z a-z 0-9 _ -');

/** `SERVICE_API_KEYS` / `OPERATOR_API_KEYS`: comma-separated keys (several, so a key can be rotated). */
export const keyListSchema = z
  .string()
  .transform((value) => value.split(',').map((k) => k.trim()).filter((k) => k !== ''))
  .pipe(z.array(key).min(1, 'at least one key'));

/**
 * `CUSTOMER_API_KEYS`: comma-separated `<key>=<ownerId>[|<ownerId>...]`; a customer key sees and
 * changes only the deliveries and packages of its owners. Empty means no customer can call.
 */
export const customerKeysSchema = z
  .string()
  .default('')
  .transform((value, ctx) => {
    // Entries of one key are one binding: the owner limit counts them together.
    const bindings = new Map<string, Set<string>>();
    for (const entry of value.split(',').map((e) => e.trim()).filter((e) => e !== '')) {
      const [k = '', owners = ''] = entry.split('=', 2);
      const parsedKey = key.safeParse(k);
      const ownerList = owners.split('|').filter((o) => o !== '');
      if (!parsedKey.success) ctx.addIssue({ code: 'custom', message: `an entry's key: ${parsedKey.error.issues[0]?.message ?? 'invalid'}` });
      else if (ownerList.length === 0 || !ownerList.every((o) => OWNER_ID_PATTERN.test(o))) ctx.addIssue({ code: 'custom', message: 'each entry is <key>=<ownerId>[|<ownerId>...], owner ids of A-Z a-z 0-9 _ . - (at most 64)' });
      else {
        const set = bindings.get(k) ?? new Set<string>();
        for (const owner of ownerList) set.add(owner);
        bindings.set(k, set);
      }
    }
    for (const set of bindings.values()) {
      if (set.size > MAX_OWNERS_PER_KEY) ctx.addIssue({ code: 'custom', message: `a key acts for at most ${MAX_OWNERS_PER_KEY} owners (one has ${set.size}, over all its entries)` });
    }
    return [...bindings].map(([k, set]) => ({ key: k, owners: [...set] }));
  });

export interface ApiKeysConfig {
  readonly CUSTOMER_API_KEYS: readonly { key: string; owners: string[] }[];
  readonly SERVICE_API_KEYS: readonly string[];
  readonly OPERATOR_API_KEYS: readonly string[];
}

/**
 * The keys of one app by role, kept as SHA-256 digests and compared in constant time
 * ({@link TokenDigests}). Keys never reach a log line.
 */
export class ApiKeys {
  private readonly keys = new TokenDigests<Principal>();

  /** Throws naming the settings when one key is listed under two roles: it would get the first role silently. */
  constructor(config: ApiKeysConfig) {
    const roleOf = new Map<string, string>();
    const lists: [string, readonly string[]][] = [
      ['CUSTOMER_API_KEYS', config.CUSTOMER_API_KEYS.map((binding) => binding.key)],
      ['SERVICE_API_KEYS', config.SERVICE_API_KEYS],
      ['OPERATOR_API_KEYS', config.OPERATOR_API_KEYS],
    ];
    for (const [setting, keys] of lists) {
      for (const k of new Set(keys)) {
        const other = roleOf.get(k);
        if (other !== undefined) throw new Error(`invalid configuration: a key is listed in both ${other} and ${setting}; each key has one role`);
        roleOf.set(k, setting);
      }
    }
    const owners = new Map<string, Set<string>>();
    for (const binding of config.CUSTOMER_API_KEYS) {
      const set = owners.get(binding.key) ?? new Set<string>();
      for (const owner of binding.owners) set.add(owner);
      owners.set(binding.key, set);
    }
    for (const [k, set] of owners) this.keys.add(k, { role: 'customer', owners: set });
    for (const k of config.SERVICE_API_KEYS) this.keys.add(k, { role: 'service' });
    for (const k of config.OPERATOR_API_KEYS) this.keys.add(k, { role: 'operator' });
  }

  /** The principal of a presented key, or undefined. */
  authenticate(presented: string): Principal | undefined {
    return this.keys.find(presented);
  }
}
