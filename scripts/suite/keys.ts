/**
 * `npm run keys`: the local stack's API keys (made on first use, shared with `npm start`) written to
 * `.env` in the repository root, which `docker compose` reads, so the compose stack runs with
 * fresh keys instead of the compose file's laptop defaults. Prints them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot, suiteConfig as config } from './config.js';
import { appKeyEnv, credentialsEnv, loadOrCreateCredentials } from './credentials.js';

mkdirSync(config.RUN_DIR, { recursive: true });
const credentials = loadOrCreateCredentials(config.RUN_DIR);
const env = appKeyEnv(credentials);
const file = join(projectRoot, '.env');
writeFileSync(file, `${Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n')}\n`, { mode: 0o600 });
console.log(`[keys] wrote ${file} (docker compose reads it); for a shell: . ${credentialsEnv(config.RUN_DIR)}`);
console.log(`  customer (owners ${credentials.customerOwners.join(', ')}): ${credentials.customerKey}`);
console.log(`  service: ${credentials.serviceKey}`);
console.log(`  operator: ${credentials.operatorKey}`);
