/**
 * The soak workload's receiving service in a process of its own (as it would be deployed), so the
 * soak measures two services on two cores rather than one event loop doing both.
 */
import { RsmRuntime } from '#rsm';
import { benchConfig as config } from './config.js';
import { Sink } from './machines.js';
import { soakRuntimeOptions } from './soak-options.js';

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent };
const runtime = new RsmRuntime(soakRuntimeOptions('soak-b', 'bench_soak_b', {}, { databaseUrl: config.DATABASE_URL, redisUrl: config.REDIS_URL, signingKey: config.BENCH_SOAK_SIGNING_KEY }), { machines: [Sink], logger: silent });
await runtime.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => void runtime.stop().then(() => process.exit(0)));
