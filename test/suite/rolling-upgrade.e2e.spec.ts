import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { ServiceName } from '#contracts';
import { checkInvariants, formatResults, readSnapshot, waitUntilQuiet } from '#verifier';
import { sumMetric } from '../../bench/suite/resources.js';
import { retryAfterSeconds } from '../../load-tests/k6/lib/retry-after.js';
import { suiteTestConfig } from '../support/config.js';
import { deliveryRequests } from '../support/delivery-requests.js';
import { http, SuiteProcesses } from '../support/suite-processes.js';

/** Small on purpose: deliveries queue for drones, so every stage of the saga is occupied while pods change. */
const FLEET = 10;
/** Replacements are paced by progress, not by time: this many more deliveries accepted between two. */
const BETWEEN_REPLACEMENTS = 8;
/** The offered load: one delivery every this many ms (about 3/s), within what two loaded cores complete. */
const SUBMIT_EVERY_MS = 330;
/** Generous: on two loaded cores an app takes 10-60 s to start. */
const READY_MS = 120_000;
const LIVE_SAGA_STATES = ['Received', 'PackagePending', 'DronePending', 'DeliveryPending', 'Scheduled', 'InFlight', 'Airborne', 'Compensating', 'Cancelling'];

const deliveryRequest = deliveryRequests('upgrade', 30 * 60_000);
/** The versions the new release runs; the previous one (`MACHINE_DEFINITIONS=previous`) runs v1 of both. */
const CURRENT = { DeliverySaga: 5, Drone: 2 } as const;

/**
 * A rolling deploy of a release that changes two machines (DeliverySaga v1 to v5: `InFlight` renamed
 * `Airborne`, a new `pickedUpAt`, the delivery told at dispatch, a cancel after dispatch that waits
 * for the drone, the delivery created in the step that dispatches; Drone v2: a new `lastPickupAt`,
 * `DronePickedUp` gains `at`, and no `DroneEnRoute` for a saga that told the delivery),
 * while deliveries flow: workflow and drone-scheduler run two pods each on one database, all of the
 * previous release; one pod at a time is SIGKILLed and replaced by one of the new release, so old
 * and new pods run side by side for most of the test.
 */
describe('a rolling upgrade of DeliverySaga and Drone under load, pods replaced one by one with SIGKILLs', { concurrency: false, timeout: 900_000 }, () => {
  const previous = { MACHINE_DEFINITIONS: 'previous' };
  const suite = new SuiteProcesses({ 'drone-scheduler': { FLEET_SIZE: String(FLEET), ...previous }, workflow: previous, 'drone-sim': { LEG_MS_MIN: '100', LEG_MS_MAX: '800' } }, { readyTimeoutMs: READY_MS });
  const customer = suite.auth('customer');
  const accepted = new Set<string>();
  /** Saga states seen live when each pod was killed. */
  const seenAtKills = new Set<string>();
  /** Events each old pod left for the new ones (read just before it was killed), by pod. */
  const deferred: Record<string, number> = {};
  let loading = true;
  let load: Promise<void> | undefined;
  const pool = new pg.Pool({ connectionString: suiteTestConfig.DATABASE_URL, max: 2 });

  const submit = async () => {
    for (let attempt = 1; ; attempt += 1) {
      // Ingestion is never restarted here: a refused connection fails the test.
      const answer = await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, deliveryRequest(), customer);
      if (answer.status === 429 && attempt < 120) {
        await new Promise((resolve) => setTimeout(resolve, retryAfterSeconds(answer.headers.get('retry-after') ?? '1', Date.now()) * 1_000));
        continue;
      }
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      accepted.add((answer.body as { deliveryId: string }).deliveryId);
      return;
    }
  };
  const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 180_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const liveStates = async () => {
    const rows = await pool.query<{ state: string }>(`SELECT DISTINCT state FROM "${suite.schema('workflow')}".rsm_machines WHERE type = 'DeliverySaga' AND state = ANY($1)`, [LIVE_SAGA_STATES]);
    return rows.rows.map((r) => r.state);
  };
  /** What an old pod left to newer ones so far: its `rsm_steps_deferred_total` with reason newer_version. */
  const deferredBy = async (service: ServiceName, replica: number) => {
    const text = await (await fetch(`${suite.url(service, replica)}/metrics`)).text();
    return sumMetric(text, 'rsm_steps_deferred_total', (labels) => labels.includes('reason="newer_version"'));
  };
  const versions = async (service: ServiceName, type: string) => {
    const rows = await pool.query<{ v: number; n: string }>(`SELECT definition_version AS v, count(*) AS n FROM "${suite.schema(service)}".rsm_machines WHERE type = $1 GROUP BY 1 ORDER BY 1`, [type]);
    return Object.fromEntries(rows.rows.map((r) => [`v${r.v}`, Number(r.n)]));
  };

  before(async () => {
    await suite.startAll();
    await suite.start('workflow', previous, 1);
    await suite.start('drone-scheduler', { FLEET_SIZE: String(FLEET), ...previous }, 1);
    load = (async () => {
      while (loading) {
        await submit();
        await new Promise((resolve) => setTimeout(resolve, SUBMIT_EVERY_MS));
      }
    })();
    // Awaited in the test; handled here too, so a failed submission is reported there, not as unhandled.
    load.catch(() => undefined);
  });

  after(async () => {
    loading = false;
    await load?.catch(() => undefined);
    await suite.stopAll();
    await pool.end();
  });

  it('completes every delivery with all seven invariants; every saga and drone ends at the current version; no old pod steps a machine of the new release', async () => {
    await until('the first deliveries of the old release to spread over the stages', async () => accepted.size >= 12 && (await liveStates()).length >= 3);
    for (const [service, replica] of [['workflow', 0], ['drone-scheduler', 0], ['workflow', 1], ['drone-scheduler', 1]] as const) {
      for (const state of await liveStates()) seenAtKills.add(state);
      deferred[`${service}#${replica}`] = await deferredBy(service, replica);
      await suite.kill(service, replica);
      await suite.start(service, { MACHINE_DEFINITIONS: 'current', ...(service === 'drone-scheduler' ? { FLEET_SIZE: String(FLEET) } : {}) }, replica);
      const mark = accepted.size;
      await until(`${BETWEEN_REPLACEMENTS} more deliveries after replacing ${service}#${replica}`, () => accepted.size >= mark + BETWEEN_REPLACEMENTS);
    }
    loading = false;
    await load;
    console.log(`# ${accepted.size} deliveries; saga states live at the kills: ${[...seenAtKills].sort().join(', ')}; events old pods left to new ones: ${JSON.stringify(deferred)}`);
    // The second pod of each service ran the old release beside a new one: it met machines stored at the new versions and left them.
    assert.ok((deferred['workflow#1'] ?? 0) + (deferred['drone-scheduler#1'] ?? 0) > 0, 'old pods met machines stored at the new versions and left them to new pods');
    assert.ok(seenAtKills.size >= 3, `deliveries in several stages while pods changed: ${[...seenAtKills].join(', ')}`);

    const { snapshot, quiet } = await waitUntilQuiet(suite.urls, 300_000, { operatorKey: suite.keys.operatorKey });
    assert.ok(quiet, `quiet: ${snapshot.sagas.filter((s) => !['Completed', 'Failed', 'Cancelled'].includes(s.state)).length} sagas still live`);
    const results = checkInvariants(snapshot, { accepted });
    console.log(formatResults(results).split('\n').map((l) => `# ${l}`).join('\n'));
    assert.deepEqual(results.filter((r) => !r.ok), []);
    const final = await readSnapshot(suite.urls, suite.keys.operatorKey);
    assert.deepEqual([...new Set(final.sagas.map((s) => s.state))], ['Completed'], 'every delivery completed');
    assert.equal(final.sagas.length, accepted.size);

    // Every machine of the two types ends at the current version (sagas v5, drones v2): stepped ones
    // migrated in their step, the rest at rest.
    await until(`every saga stored at v${CURRENT.DeliverySaga} and every drone at v${CURRENT.Drone}`, async () => {
      const [sagas, drones] = await Promise.all([versions('workflow', 'DeliverySaga'), versions('drone-scheduler', 'Drone')]);
      return Object.keys(sagas).join() === `v${CURRENT.DeliverySaga}` && Object.keys(drones).join() === `v${CURRENT.Drone}`;
    }, 120_000);
    console.log(`# stored versions: sagas ${JSON.stringify(await versions('workflow', 'DeliverySaga'))}, drones ${JSON.stringify(await versions('drone-scheduler', 'Drone'))}`);
    const renamed = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${suite.schema('workflow')}".rsm_machines WHERE type = 'DeliverySaga' AND (state = 'InFlight' OR data->'history' @> '[{"state":"InFlight"}]')`);
    assert.equal(Number(renamed.rows[0]?.n), 0, 'no saga is left in, or remembers, the old state name');

    // No old pod stepped a machine of the new release: each step records the definition version that
    // ran it, and once a machine took a step of the current version, none of its later steps is v1.
    for (const [service, type] of [['workflow', 'DeliverySaga'], ['drone-scheduler', 'Drone']] as const) {
      const back = await pool.query<{ id: string }>(
        `SELECT DISTINCT s.machine_id AS id FROM "${suite.schema(service)}".rsm_steps s
          WHERE s.machine_type = $1 AND s.definition_version = 1
            AND EXISTS (SELECT 1 FROM "${suite.schema(service)}".rsm_steps e WHERE e.machine_type = s.machine_type AND e.machine_id = s.machine_id AND e.definition_version = $2 AND e.id < s.id)`,
        [type, CURRENT[type]],
      );
      assert.deepEqual(back.rows, [], `${type}: a v1 step after a v${CURRENT[type]} step`);
      const byVersion = await pool.query<{ v: number; n: string }>(`SELECT definition_version AS v, count(*) AS n FROM "${suite.schema(service)}".rsm_steps WHERE machine_type = $1 GROUP BY 1 ORDER BY 1`, [type]);
      const steps = Object.fromEntries(byVersion.rows.map((r) => [`v${r.v}`, Number(r.n)]));
      console.log(`# ${type} steps by version: ${JSON.stringify(steps)}`);
      assert.ok((steps.v1 ?? 0) > 0 && (steps[`v${CURRENT[type]}`] ?? 0) > 0, `${type}: both releases stepped machines`);
    }
  });
});
