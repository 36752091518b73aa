import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Where webhooks may point: the settings of the delivery service that relax it for local runs and tests. */
export interface WebhookPolicy {
  readonly WEBHOOK_ALLOW_HTTP: boolean;
  readonly WEBHOOK_ALLOW_PRIVATE: boolean;
}

/**
 * Whether an address is somewhere on the public internet. Loopback, private, link-local (cloud
 * metadata at 169.254.169.254), carrier-grade NAT, unique-local, multicast and reserved ranges are
 * not: a webhook there would let a customer make the service call into its own network (SSRF).
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === 'unicast';
}

/** How long registration waits for a webhook's name to resolve: a hostile resolver cannot hold the request. */
export const WEBHOOK_LOOKUP_TIMEOUT_MS = 2_000;

/** A name's addresses, IPv4 and IPv6; rejects when it has none. */
export type Resolve = (host: string) => Promise<string[]>;

/**
 * Resolves with DNS itself (c-ares, as `dns.Resolver` does), not with the system resolver that
 * `dns.lookup` calls: `getaddrinfo` holds one of libuv's four threads until it answers, so a few
 * customers' slow names could hold every thread, and with them the name lookups of the service's
 * own connections, file and crypto work. A c-ares query holds no thread, and it is cancelled at the
 * deadline. It does not read `/etc/hosts`: names found only there are local, and refused anyway.
 *
 * @param servers the DNS servers to ask (`host:port`); by default the system's.
 */
export function dnsResolve(timeoutMs = WEBHOOK_LOOKUP_TIMEOUT_MS, servers?: readonly string[]): Resolve {
  return async (host) => {
    const resolver = new Resolver({ timeout: Math.max(1, Math.floor(timeoutMs / 2)), tries: 2 });
    if (servers !== undefined) resolver.setServers([...servers]);
    const timer = setTimeout(() => resolver.cancel(), timeoutMs);
    try {
      const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
      const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
      if (addresses.length > 0) return addresses;
      throw v4.status === 'rejected' ? v4.reason : new Error(`${host} has no address`);
    } finally {
      clearTimeout(timer);
    }
  };
}

type LookupAddress = { address: string; family: number };
type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
/** The shape of `dns.lookup` that `net.connect` calls (with `all` when it tries both families). */
export type Lookup = (hostname: string, options: { family?: number | string; all?: boolean }, callback: LookupCallback) => void;

/** `dns.lookup`'s shape over {@link Resolve}, for an agent's connections (see {@link dnsResolve}). */
export function lookupVia(resolve: Resolve): Lookup {
  return (hostname, options, callback) => {
    const wanted = options.family === 6 || options.family === 'IPv6' ? 6 : options.family === 4 || options.family === 'IPv4' ? 4 : 0;
    const found = isIP(hostname) !== 0 ? Promise.resolve([hostname]) : resolve(hostname);
    found.then(
      (addresses) => {
        const all = addresses.map((address) => ({ address, family: isIP(address) })).filter((a) => a.family !== 0 && (wanted === 0 || a.family === wanted));
        const first = all[0];
        if (first === undefined) {
          callback(Object.assign(new Error(`${hostname} has no IPv${wanted} address`), { code: 'ENOTFOUND' }), []);
          return;
        }
        if (options.all === true) callback(null, all);
        else callback(null, first.address, first.family);
      },
      (error: unknown) => callback(Object.assign(error instanceof Error ? error : new Error(String(error)), { code: (error as { code?: string }).code ?? 'ENOTFOUND' }), []),
    );
  };
}

/** Registration is refused for now (503): as many lookups as it may hold are still running. */
export class LookupsBusyError extends Error {
  constructor(readonly max: number) {
    super(`${max} webhook names are being resolved already; retry shortly`);
    this.name = 'LookupsBusyError';
  }
}

/**
 * Name lookups of webhook registration still running. Each ends by its deadline (see
 * {@link dnsResolve}), so the bound only caps the queries one process keeps in flight at once.
 */
export class LookupLimiter {
  private running = 0;

  constructor(readonly max: number) {}

  /** Runs `lookup` if a place is free, else throws LookupsBusyError; the place is freed when it settles. */
  start<T>(lookup: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) throw new LookupsBusyError(this.max);
    this.running += 1;
    const settled = lookup();
    settled.then(
      () => (this.running -= 1),
      () => (this.running -= 1),
    );
    return settled;
  }
}

const registrationLookups = new LookupLimiter(64);

/**
 * Why a webhook URL is refused, or undefined when it may be registered: https only (http when
 * allowed), no credentials in it, and a host whose every address is public. Checked again when the
 * webhook is called (the name may resolve elsewhere by then), by the notify activity's agent.
 * Throws LookupsBusyError while registrations hold all the lookups they may (see LookupLimiter).
 */
export async function webhookRefusal(
  raw: string,
  policy: WebhookPolicy,
  resolve: Resolve = dnsResolve(),
  timeoutMs = WEBHOOK_LOOKUP_TIMEOUT_MS,
  limiter: LookupLimiter = registrationLookups,
): Promise<string | undefined> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.WEBHOOK_ALLOW_HTTP)) return policy.WEBHOOK_ALLOW_HTTP ? 'must be http or https' : 'must be https';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  if (policy.WEBHOOK_ALLOW_PRIVATE) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (ipaddr.isValid(host)) addresses = [host];
  else {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((done) => (timer = setTimeout(() => done('late'), timeoutMs)));
    try {
      const answer = await Promise.race([limiter.start(() => resolve(host)), late]);
      if (answer === 'late') return `host ${host} did not resolve within ${timeoutMs} ms`;
      addresses = answer;
    } catch (error) {
      if (error instanceof LookupsBusyError) throw error;
      return `host ${host} does not resolve`;
    } finally {
      clearTimeout(timer);
    }
  }
  const blocked = addresses.find((a) => !isPublicAddress(a));
  return blocked === undefined ? undefined : `host ${host} resolves to ${blocked}, which is not a public address`;
}
