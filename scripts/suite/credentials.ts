import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The API keys of a local stack, generated on the first `npm start` and kept in the run directory
 * (readable only by this user) so that later starts, the README's commands, the verifier and the
 * load tools use the same ones.
 */
export interface SuiteCredentials {
  /** A customer key acting for the demo and load owners. */
  readonly customerKey: string;
  readonly customerOwners: readonly string[];
  /** A second customer, for trying another customer's ids. */
  readonly otherCustomerKey: string;
  readonly otherCustomerOwners: readonly string[];
  readonly serviceKey: string;
  readonly operatorKey: string;
  /** Signs what the runtime puts in Redis (absent in credentials made before it existed: added on load). */
  readonly signingKey?: string;
}

/** Owners of the demo customer key: the README's `o1`, the chaos driver's `chaos`, k6's `owner-0..6`. */
const DEMO_OWNERS = ['o1', 'chaos', 'load', ...Array.from({ length: 7 }, (_, i) => `owner-${i}`)];

const newKey = () => randomBytes(24).toString('base64url');

export const credentialsJson = (runDir: string) => join(runDir, 'credentials.json');
export const credentialsEnv = (runDir: string) => join(runDir, 'credentials.env');

export function generateCredentials(): SuiteCredentials {
  return { customerKey: newKey(), customerOwners: DEMO_OWNERS, otherCustomerKey: newKey(), otherCustomerOwners: ['o2'], serviceKey: newKey(), operatorKey: newKey(), signingKey: randomBytes(32).toString('base64url') };
}

/** The credentials of the stack in `runDir`, created (with a shell file to source) if there are none. */
export function loadOrCreateCredentials(runDir: string): SuiteCredentials {
  const file = credentialsJson(runDir);
  if (existsSync(file)) {
    const known = JSON.parse(readFileSync(file, 'utf8')) as SuiteCredentials;
    if (known.signingKey !== undefined) return known;
    const upgraded = { ...known, signingKey: randomBytes(32).toString('base64url') };
    writeFileSync(file, JSON.stringify(upgraded, null, 2), { mode: 0o600 });
    return upgraded;
  }
  const credentials = generateCredentials();
  writeFileSync(file, JSON.stringify(credentials, null, 2), { mode: 0o600 });
  writeFileSync(
    credentialsEnv(runDir),
    [
      `# API keys of the local stack (npm start); . ${credentialsEnv(runDir)}`,
      `export TAILSPIN_CUSTOMER_KEY=${credentials.customerKey}   # customer of ${credentials.customerOwners.join(', ')}`,
      `export TAILSPIN_OTHER_CUSTOMER_KEY=${credentials.otherCustomerKey}   # customer of ${credentials.otherCustomerOwners.join(', ')}`,
      `export TAILSPIN_SERVICE_KEY=${credentials.serviceKey}   # devices and services (drone status, flights, confirmations, bookings)`,
      `export TAILSPIN_OPERATOR_KEY=${credentials.operatorKey}   # operators: /rsm/*, every list; npm run verify reads it`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  chmodSync(file, 0o600);
  return credentials;
}

/** The key settings every app of the stack reads: API keys and the Redis signing key. */
export function appKeyEnv(c: SuiteCredentials): Record<'CUSTOMER_API_KEYS' | 'SERVICE_API_KEYS' | 'OPERATOR_API_KEYS', string> & { RSM_SIGNING_KEY?: string } {
  return {
    ...(c.signingKey !== undefined ? { RSM_SIGNING_KEY: c.signingKey } : {}),
    CUSTOMER_API_KEYS: `${c.customerKey}=${c.customerOwners.join('|')},${c.otherCustomerKey}=${c.otherCustomerOwners.join('|')}`,
    SERVICE_API_KEYS: c.serviceKey,
    OPERATOR_API_KEYS: c.operatorKey,
  };
}
