/** `npm stop`: stops the apps `npm start` started, its process manager, and any database it started. */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { suiteConfig as config } from './config.js';
import { stopProvided } from './infra.js';
import { stateFile, type SuiteState } from './state.js';
import { connectSupervisor } from './supervisor.js';

const file = stateFile(config.RUN_DIR);
if (!existsSync(file)) {
  console.log('[suite] nothing to stop');
  process.exit(0);
}
const state = JSON.parse(readFileSync(file, 'utf8')) as SuiteState;
const supervisor = await connectSupervisor();
for (const app of state.apps) await supervisor.remove(app.name).catch(() => undefined);
await supervisor.stopDaemon().catch(() => undefined);
supervisor.disconnect();
await stopProvided(state.redis);
await stopProvided(state.postgres);
rmSync(file);
console.log(`[suite] stopped ${state.apps.length} apps${state.postgres.kind !== 'external' ? ', PostgreSQL' : ''}${state.redis.kind !== 'external' ? ', Redis' : ''}`);
// PM2's client keeps a socket to the daemon it just killed: end explicitly.
process.exit(0);
