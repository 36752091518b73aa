import { userInfo } from 'node:os';

/** What the `rsm` command line takes from its environment; flags override each. */
export interface CliEnvironment {
  /** `RSM_URL`: the service's base URL (`http://127.0.0.1:3002`). */
  readonly url?: string;
  /** `RSM_TOKEN`: an operator token of that service; preferred to `--token`, which other users can see in the process list. */
  readonly token?: string;
  /** `RSM_ACTOR`: the name the audit log records for your actions; the login name when unset. */
  readonly actor?: string;
}

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value.trim() === '' ? undefined : value);

/** The CLI's environment: the one place it reads `process.env`. */
export function cliEnvironment(env: NodeJS.ProcessEnv = process.env): CliEnvironment {
  let login: string | undefined;
  try {
    login = userInfo().username;
  } catch {
    login = undefined;
  }
  const url = nonEmpty(env.RSM_URL);
  const token = nonEmpty(env.RSM_TOKEN);
  const actor = nonEmpty(env.RSM_ACTOR) ?? nonEmpty(login);
  return { ...(url === undefined ? {} : { url }), ...(token === undefined ? {} : { token }), ...(actor === undefined ? {} : { actor }) };
}
