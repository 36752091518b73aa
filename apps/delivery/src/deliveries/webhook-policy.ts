import { lookup } from 'node:dns/promises';
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

type Resolve = (host: string) => Promise<string[]>;
const resolveAll: Resolve = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** Registration is refused for now (503): as many lookups as it may hold are still running. */
export class LookupsBusyError extends Error {
  constructor(readonly max: number) {
    super(`${max} webhook names are being resolved already; retry shortly`);
    this.name = 'LookupsBusyError';
  }
}

/**
 * Name lookups of webhook registration still running, the ones whose request gave up included:
 * `dns.lookup` holds one of libuv's four threads until the system resolver answers, whatever the
 * request's deadline, so registrations may hold `max` of them and no more. The rest (the notify
 * activity's lookups, file and crypto work) keep theirs, however many slow names a customer sends.
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

const registrationLookups = new LookupLimiter(2);

/**
 * Why a webhook URL is refused, or undefined when it may be registered: https only (http when
 * allowed), no credentials in it, and a host whose every address is public. Checked again when the
 * webhook is called (the name may resolve elsewhere by then), by the notify activity's agent.
 * Throws LookupsBusyError while registrations hold all the lookups they may (see LookupLimiter).
 */
export async function webhookRefusal(
  raw: string,
  policy: WebhookPolicy,
  resolve: Resolve = resolveAll,
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
