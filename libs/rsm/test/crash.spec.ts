import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { CRASH_POINTS } from '#rsm';
import { testConfig } from './support/config.js';
import { runPingScenario as runScenario } from './support/ping-scenario.js';

function restartPostgres(): void {
  const version = readdirSync('/etc/postgresql')[0];
  if (version === undefined) throw new Error('no Postgres cluster under /etc/postgresql');
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart', '-m', 'fast'], { stdio: 'ignore' });
}

describe('crash tests: guarantees under SIGKILL', { concurrency: false }, () => {
  it('holds while workers are SIGKILLed at random instants and at every named crash point', async () => {
    const outcome = await runScenario({ senders: 6, pings: 60, killEveryMs: 600, crashPoints: true, disruptions: [] });
    const exercised = new Set(outcome.crashLog);
    for (const point of CRASH_POINTS) assert.ok(exercised.has(point), `crash point ${point} was exercised (hit: ${[...exercised].join(', ')})`);
    console.log(`# random kills: ${outcome.kills}, crash-point deaths: ${outcome.crashLog.length}, restarts: ${outcome.restarts}, ${outcome.seconds.toFixed(1)} s`);
  });

  it('holds through a Redis FLUSHALL and a Postgres restart mid-run', async () => {
    const redis = new Redis(testConfig.REDIS_URL);
    try {
      const outcome = await runScenario({
        senders: 4,
        pings: 60,
        killEveryMs: 0,
        crashPoints: false,
        disruptions: [
          { atMs: 300, name: 'redis flushall', run: async () => void (await redis.flushall()) },
          { atMs: 1_200, name: 'postgres restart', run: async () => restartPostgres() },
        ],
      });
      console.log(`# redis flushed and postgres restarted; settled in ${outcome.seconds.toFixed(1)} s`);
    } finally {
      redis.disconnect();
    }
  });
});
