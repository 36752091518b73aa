import { join } from 'node:path';
import type { Provided } from './infra.js';

/** What `npm start` started, read by `npm stop` and the chaos tools. */
export interface SuiteState {
  readonly stack: string;
  readonly postgres: Provided;
  readonly redis: Provided;
  readonly apps: { service: string; name: string; url: string }[];
}

export const stateFile = (runDir: string) => join(runDir, 'suite.json');
