/**
 * `npm run dashboards`: writes the dashboards defined in code to infra/grafana/dashboards/*.json,
 * which Grafana loads through provisioning. A test fails if the committed files drift from the code.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DASHBOARDS } from './dashboards.js';

export const dashboardsDir = join(import.meta.dirname, '..', '..', '..', '..', 'infra', 'grafana', 'dashboards');

export function renderDashboards(): Record<string, string> {
  return Object.fromEntries(Object.entries(DASHBOARDS).map(([file, build]) => [file, `${JSON.stringify(build().build(), null, 2)}\n`]));
}

if (process.argv[1] === import.meta.filename) {
  for (const [file, json] of Object.entries(renderDashboards())) {
    writeFileSync(join(dashboardsDir, file), json);
    console.log(`wrote infra/grafana/dashboards/${file}`);
  }
}
