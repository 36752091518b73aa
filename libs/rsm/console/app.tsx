/**
 * The operator console: a Preact single-page app that reads and acts only through the library's
 * public admin routes (`/rsm/*`). Pages are chosen by the URL's hash (`#/`, `#/machine/<type>/<id>`,
 * `#/dead-letters`, `#/audit`); every page polls, so counts and states move without a reload.
 */
import { render, type ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import {
  ApiError,
  call,
  enc,
  loadSession,
  query,
  saveSession,
  TimedOutError,
  UnreachableError,
  type AuditEntry,
  type DeadLetter,
  type Diagram,
  type Gap,
  type Inspection,
  type LetterResult,
  type MachineCount,
  type MachineView,
  type Page,
  type Queues,
  type Session,
  type TypeInfo,
} from './api.js';

/** Mermaid's browser build, loaded by the page as a classic script. */
declare const mermaid: {
  initialize(config: Record<string, unknown>): void;
  render(id: string, text: string): Promise<{ svg: string }>;
};

const POLL_MS = 2_000;

/** What the service told the page (RsmConsoleController's meta tag): its name, the other consoles, where each type runs. */
interface Settings {
  service: string;
  services: Record<string, string>;
  routes: Record<string, string>;
}
const settings: Settings = (() => {
  try {
    const parsed = JSON.parse(document.querySelector('meta[name=rsm-console]')?.getAttribute('content') ?? '{}') as Partial<Settings>;
    return { service: parsed.service ?? '', services: parsed.services ?? {}, routes: parsed.routes ?? {} };
  } catch {
    return { service: '', services: {}, routes: {} };
  }
})();

/** The console that shows machines of `type`: '' for this one, else another service's console URL (unknown: this one). */
function consoleOf(type: string, service?: string): string {
  const owner = service ?? settings.routes[type];
  if (owner === undefined || owner === settings.service) return '';
  const url = settings.services[owner];
  return url === undefined ? '' : `${url}/rsm/console/`;
}

/** A service the overview and search cover: this console's own, or another one of the settings, read cross-origin. */
interface Service {
  readonly name: string;
  /** The base URL of its admin routes and console; undefined for this console's own service (same origin). */
  readonly remote?: string;
}
/** This console's service first, then the others in the order they are configured. */
const services: readonly Service[] = [
  { name: settings.service },
  ...Object.entries(settings.services)
    .filter(([name]) => name !== settings.service)
    .map(([name, remote]) => ({ name, remote })),
];

/** A page (`#/...`) of a service's console: this one's hash, or a URL of the other console. */
const pageOf = (service: Service, hash: string) => (service.remote === undefined ? hash : `${service.remote}/rsm/console/${hash}`);

/** Why a service's answer is missing, for its section and the search: refused, unreachable, timed out, or another error. */
function trouble(error: unknown): { status: 'refused' | 'unreachable' | 'timeout' | 'error'; text: string } {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return { status: 'refused', text: `refused (${error.status}): ${error.message}` };
  if (error instanceof TimedOutError) return { status: 'timeout', text: `timed out: ${error.message}` };
  if (error instanceof UnreachableError) return { status: 'unreachable', text: `unreachable: ${error.message}` };
  return { status: 'error', text: error instanceof ApiError ? `error (${error.status}): ${error.message}` : error instanceof Error ? error.message : String(error) };
}

/**
 * Runs `load` now and every POLL_MS while the page shows; `reload` runs it at once. `failure` is
 * the last error itself. A tab in the background does not poll (each overview poll counts every
 * machine of every service): it loads again as soon as it is shown.
 */
function usePoll<T>(load: () => Promise<T>, deps: readonly unknown[]): { data: T | undefined; error: string | undefined; failure: unknown; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [failure, setFailure] = useState<unknown>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let busy = false;
    const run = async () => {
      busy = true;
      try {
        const value = await load();
        if (!live) return;
        setData(value);
        setFailure(undefined);
      } catch (e) {
        if (!live) return;
        setFailure(e ?? new Error('failed'));
      }
      busy = false;
      timer = undefined;
      if (live && document.visibilityState !== 'hidden') timer = setTimeout(() => void run(), POLL_MS);
    };
    void run();
    // Shown again after its poll stopped: load now (a poll on its way or planned goes on by itself).
    const onVisible = () => {
      if (live && !busy && timer === undefined && document.visibilityState !== 'hidden') void run();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      live = false;
      document.removeEventListener('visibilitychange', onVisible);
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [...deps, tick]);
  const error = failure === undefined ? undefined : failure instanceof Error ? failure.message : JSON.stringify(failure);
  return { data, error, failure, reload: useCallback(() => setTick((t) => t + 1), []) };
}

/** The hash route, as path segments. */
function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').filter((s) => s !== '').map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

const go = (...segments: string[]) => {
  location.hash = `#/${segments.map(enc).join('/')}`;
};

const time = (iso: string | null | undefined) => (iso === null || iso === undefined ? '' : new Date(iso).toLocaleString());
const age = (iso: string) => {
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
};
const json = (value: unknown) => JSON.stringify(value, null, 2);
/** A state name as Mermaid accepts it in a statement (the definitions' names are identifiers already). */
const safeName = (name: string) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);

let diagramSeq = 0;

/** A type's diagram changes only with a deploy: fetched once per page load and service (a failed fetch is tried again). */
const diagrams = new Map<string, Promise<Diagram>>();
function diagramOf(session: Session, type: string, remote?: string): Promise<Diagram> {
  const key = `${remote ?? ''} ${type}`;
  let diagram = diagrams.get(key);
  if (diagram === undefined) {
    diagram = call<Diagram>(session, 'GET', `/rsm/types/${enc(type)}/diagram`, undefined, remote);
    diagrams.set(key, diagram);
    diagram.catch(() => diagrams.delete(key));
  }
  return diagram;
}

/** A machine type's state diagram: Mermaid text from the service, with counts per state and the highlighted state added. */
function StateDiagram(props: { diagram: Diagram; highlight?: string; counts?: Record<string, number> }) {
  const { diagram, highlight, counts } = props;
  const [svg, setSvg] = useState<string | undefined>(undefined);
  const [failed, setFailed] = useState<string | undefined>(undefined);
  const lines = [diagram.mermaid];
  for (const state of diagram.states) {
    if (!safeName(state)) continue;
    const n = counts?.[state];
    lines.push(n === undefined ? `  ${state}` : `  state "${state} · ${n}" as ${state}`);
  }
  if (highlight !== undefined && safeName(highlight)) lines.push('  classDef current fill:#ffd54f,stroke:#e65100,stroke-width:3px', `  class ${highlight} current`);
  const text = lines.join('\n');
  useEffect(() => {
    let live = true;
    diagramSeq += 1;
    mermaid
      .render(`rsm-diagram-${diagramSeq}`, text)
      .then((result) => live && setSvg(result.svg))
      .catch((e: unknown) => live && setFailed(e instanceof Error ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [text]);
  if (failed !== undefined) return <pre class="error">diagram: {failed}</pre>;
  return <div class="diagram" data-testid="diagram" data-current={highlight ?? ''} data-rendered={svg === undefined ? 'no' : 'yes'} dangerouslySetInnerHTML={{ __html: svg ?? '' }} />;
}

/** Asks before an admin action; the action runs only on "Confirm". */
interface Confirmation {
  title: string;
  detail: string;
  run: () => Promise<string>;
}

function ConfirmDialog(props: { confirmation: Confirmation | undefined; close: (outcome?: string) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    if (props.confirmation !== undefined && !dialog.open) dialog.showModal();
    if (props.confirmation === undefined && dialog.open) dialog.close();
    setError(undefined);
  }, [props.confirmation]);
  const confirm = async () => {
    if (props.confirmation === undefined) return;
    setBusy(true);
    try {
      const outcome = await props.confirmation.run();
      props.close(outcome);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} data-testid="confirm-dialog" onCancel={() => props.close()}>
      <h3>{props.confirmation?.title}</h3>
      <p>{props.confirmation?.detail}</p>
      <p>It is written to the audit log with your name and token fingerprint.</p>
      {error !== undefined && <p class="error">{error}</p>}
      <div class="actions">
        <button type="button" onClick={() => props.close()} disabled={busy}>
          Cancel
        </button>
        <button type="button" class="danger" data-testid="confirm" onClick={() => void confirm()} disabled={busy}>
          Confirm
        </button>
      </div>
    </dialog>
  );
}

/** An operator's name as the service takes it in `X-Rsm-Actor`: 1-100 printable ASCII characters. */
const ACTOR_NAME = /^[\x20-\x7e]{1,100}$/;

function Login(props: { signIn: (session: Session) => void }) {
  const [token, setToken] = useState('');
  const [actor, setActor] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const submit = async (event: Event) => {
    event.preventDefault();
    const session = { token: token.trim(), actor: actor.trim() || 'console' };
    // The rule the service applies to X-Rsm-Actor on every action: refused here, not at the first redrive.
    if (!ACTOR_NAME.test(session.actor)) {
      setError('Your name: at most 100 printable ASCII characters (letters, digits, spaces, punctuation)');
      return;
    }
    try {
      await call<TypeInfo[]>(session, 'GET', '/rsm/types');
      props.signIn(session);
    } catch (e) {
      setError(e instanceof ApiError ? `Refused (${e.status}): ${e.message}` : String(e));
    }
  };
  return (
    <form class="login" onSubmit={(e) => void submit(e)}>
      <h1>RSM console</h1>
      <label>
        Operator token
        <input type="password" name="token" autocomplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} />
      </label>
      <label>
        Your name (for the audit log)
        <input name="actor" maxLength={100} value={actor} onInput={(e) => setActor(e.currentTarget.value)} />
      </label>
      <button type="submit">Sign in</button>
      {error !== undefined && (
        <p class="error" role="alert" data-testid="login-error">
          {error}
        </p>
      )}
    </form>
  );
}

/** A link to a machine's page: here, or in the console of the service that runs its type. */
function MachineLink(props: { type: string; id: string; service?: string }) {
  const elsewhere = consoleOf(props.type, props.service);
  return (
    <a href={`${elsewhere}#/machine/${enc(props.type)}/${enc(props.id)}`} data-service={elsewhere === '' ? settings.service : (props.service ?? settings.routes[props.type])}>
      {props.type}/{props.id}
    </a>
  );
}

function Table(props: { head: string[]; children: ComponentChildren; testid?: string }) {
  return (
    <div class="scroll">
      <table data-testid={props.testid}>
        <thead>
          <tr>
            {props.head.map((h) => (
              <th key={h}>{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

/** What one service answered to a search: its machines whose id starts with the text, or why it did not answer. */
type SearchAnswer = { service: Service; machines: MachineView[] } | { service: Service; trouble: ReturnType<typeof trouble> };

/**
 * Finds machines by id or id prefix in every service at once. The one exact match opens at once (in
 * its service's console); otherwise the list shows each match with its service, and each service
 * that did not answer.
 */
function Search(props: { session: Session }) {
  const [id, setId] = useState('');
  const [found, setFound] = useState<SearchAnswer[] | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const wanted = id.trim();
    if (wanted === '') return;
    setBusy(true);
    const answers = await Promise.all(
      services.map(async (service): Promise<SearchAnswer> => {
        try {
          const page = await call<Page<MachineView>>(props.session, 'GET', `/rsm/machines${query({ idPrefix: wanted, limit: 50 })}`, undefined, service.remote);
          return { service, machines: page.items };
        } catch (e) {
          return { service, trouble: trouble(e) };
        }
      }),
    );
    setBusy(false);
    const exact = answers.flatMap((a) => ('machines' in a ? a.machines.filter((m) => m.id === wanted).map((m) => ({ service: a.service, m })) : []));
    const only = exact[0];
    // A service that did not answer cannot show its machines anyway: the one exact match among the answers opens.
    if (exact.length === 1 && only !== undefined) {
      setFound(undefined);
      if (only.service.remote === undefined) go('machine', only.m.type, only.m.id);
      else location.assign(pageOf(only.service, `#/machine/${enc(only.m.type)}/${enc(only.m.id)}`));
    } else setFound(answers);
  };
  const matches = (found ?? []).flatMap((a) => ('machines' in a ? a.machines.map((m) => ({ service: a.service, m })) : []));
  return (
    <div class="search">
      <form onSubmit={(e) => void submit(e)}>
        <input name="search" placeholder="Machine id or id prefix, in every service" value={id} onInput={(e) => setId(e.currentTarget.value)} />
        <button type="submit" disabled={busy}>
          Find
        </button>
      </form>
      {found !== undefined && (
        <ul class="found" data-testid="search-results">
          {matches.length === 0 && <li>No machine has an id starting with that.</li>}
          {matches.map(({ service, m }) => (
            <li key={`${service.name}/${m.type}/${m.id}`} data-service={service.name}>
              <a href={pageOf(service, `#/machine/${enc(m.type)}/${enc(m.id)}`)} onClick={() => setFound(undefined)}>
                {m.type}/{m.id}
              </a>{' '}
              — {m.state} ({m.status}){services.length > 1 && ` · ${service.name}`}
            </li>
          ))}
          {found.map((a) =>
            'trouble' in a ? (
              <li key={`trouble-${a.service.name}`} class="error" data-service={a.service.name} data-status={a.trouble.status}>
                {a.service.name}: {a.trouble.text}
              </li>
            ) : null,
          )}
          <li>
            <button type="button" onClick={() => setFound(undefined)}>
              Close
            </button>
          </li>
        </ul>
      )}
    </div>
  );
}

/** The overview: a section per service, this console's own first; each polls its own service, so one that fails or is slow affects only its section. */
function Overview(props: { session: Session }) {
  return (
    <section>
      {Object.keys(settings.services).length > 0 && (
        <nav class="services" data-testid="services">
          Consoles:{' '}
          {Object.entries(settings.services).map(([name, url]) =>
            name === settings.service ? (
              <b key={name}>{name}</b>
            ) : (
              <a key={name} href={`${url}/rsm/console/`}>
                {name}
              </a>
            ),
          )}
        </nav>
      )}
      {services.map((service) => (
        <ServiceOverview key={service.name} session={props.session} service={service} />
      ))}
    </section>
  );
}

interface ServiceSummary {
  types: TypeInfo[];
  counts: MachineCount[];
  letters: Page<DeadLetter>;
  gaps: Gap[];
  queues: Queues | undefined;
  diagrams: Diagram[];
}

/** One service's machine types (counts on the live diagrams), dead letters, gaps and queues, read with the session's token. */
function ServiceOverview(props: { session: Session; service: Service }) {
  const { session, service } = props;
  const remote = service.remote;
  const { data, failure } = usePoll(async (): Promise<ServiceSummary> => {
    const [types, counts, letters, gaps, queues] = await Promise.all([
      call<TypeInfo[]>(session, 'GET', '/rsm/types', undefined, remote),
      call<MachineCount[]>(session, 'GET', '/rsm/machines/counts', undefined, remote),
      call<Page<DeadLetter>>(session, 'GET', `/rsm/dead-letters${query({ limit: 500 })}`, undefined, remote),
      call<Gap[]>(session, 'GET', `/rsm/gaps${query({ limit: 100 })}`, undefined, remote),
      call<Queues>(session, 'GET', '/rsm/queues', undefined, remote).catch(() => undefined),
    ]);
    const diagrams = await Promise.all(types.map((t) => diagramOf(session, t.type, remote)));
    return { types, counts, letters, gaps, queues, diagrams };
  }, [session, remote]);
  const problem = failure === undefined ? undefined : trouble(failure);
  const status = problem?.status ?? (data === undefined ? 'loading' : 'ok');
  return (
    <section class="service" data-testid={`service-${service.name}`} data-status={status}>
      <h2>
        {service.name === '' ? 'This service' : service.name}{' '}
        {remote === undefined ? (
          <small>this console</small>
        ) : (
          <small>
            <a href={pageOf(service, '')}>open its console</a>
          </small>
        )}
      </h2>
      {problem !== undefined && (
        <p class="error" role="status" data-testid="service-trouble">
          {problem.text}
          {data !== undefined && ' (showing its last answer)'}
        </p>
      )}
      {data === undefined ? problem === undefined && <p>Loading…</p> : <ServiceSummaryView service={service} data={data} />}
    </section>
  );
}

function ServiceSummaryView(props: { service: Service; data: ServiceSummary }) {
  const { service, data } = props;
  const lettersByType = new Map<string, number>();
  for (const l of data.letters.items) lettersByType.set(l.machineType, (lettersByType.get(l.machineType) ?? 0) + 1);
  const more = data.letters.next === null ? '' : '+';
  return (
    <>
      <div class="tiles">
        <a class="tile" href={pageOf(service, '#/dead-letters')} data-testid="dead-letter-total">
          <strong>
            {data.letters.items.length}
            {more}
          </strong>{' '}
          open dead letters
        </a>
        <div class="tile" data-testid="gap-total">
          <strong>{data.gaps.length}</strong> gaps
        </div>
        {data.queues !== undefined && (
          <>
            <div class="tile" data-testid="inbox-depth">
              <strong>{data.queues.inboxDepth}</strong> in inboxes{data.queues.inboxDepth > 0 && `, oldest ${Math.round(data.queues.inboxOldestAgeSeconds)}s`}
            </div>
            <div class="tile" data-testid="outbox-depth">
              <strong>{data.queues.outboxDepth}</strong> unacknowledged in outboxes{data.queues.outboxDepth > 0 && `, oldest ${Math.round(data.queues.outboxOldestAgeSeconds)}s`}
            </div>
          </>
        )}
      </div>
      {data.gaps.length > 0 && (
        <Table head={['sender', 'receiver', 'missing from', 'waiting', 'since']}>
          {data.gaps.map((g) => (
            <tr key={`${g.sender.type}/${g.sender.id}/${g.receiver.type}/${g.receiver.id}`}>
              <td>
                {g.sender.type}/{g.sender.id}
              </td>
              <td>
                {g.receiver.type}/{g.receiver.id}
              </td>
              <td>{g.missingFrom}</td>
              <td>{g.waiting}</td>
              <td>{age(g.waitingSince)}</td>
            </tr>
          ))}
        </Table>
      )}
      {data.types.map((t) => {
        const rows = data.counts.filter((c) => c.type === t.type);
        const byState: Record<string, number> = {};
        for (const r of rows) byState[r.state] = (byState[r.state] ?? 0) + r.count;
        const diagram = data.diagrams.find((d) => d.type === t.type);
        return (
          <article class="card" key={t.type} data-testid={`type-${t.type}`}>
            <h3>
              {t.type} <small>v{t.version}</small>
            </h3>
            <p>
              {rows.reduce((n, r) => n + r.count, 0)} machines · <a href={pageOf(service, `#/dead-letters/${enc(t.type)}`)}>{lettersByType.get(t.type) ?? 0} open dead letters</a>
            </p>
            <div class="columns">
              {diagram !== undefined && <StateDiagram diagram={diagram} counts={byState} />}
              <Table head={['state', 'status', 'count']} testid={`counts-${t.type}`}>
                {rows.map((r) => (
                  <tr key={`${r.state}/${r.status}`} data-state={r.state} data-status={r.status}>
                    <td>
                      <a href={pageOf(service, `#/machines/${enc(t.type)}/${enc(r.state)}`)}>{r.state}</a>
                    </td>
                    <td>{r.status}</td>
                    <td class="count">{r.count}</td>
                  </tr>
                ))}
              </Table>
            </div>
          </article>
        );
      })}
    </>
  );
}

/** Dead letters with a checkbox each, inspect, and redrive or discard (one or the selected), each confirmed first. */
function DeadLetters(props: { session: Session; type?: string; machineId?: string; ask: (c: Confirmation) => void; compact?: boolean }) {
  const { session } = props;
  const [filter, setFilter] = useState({ type: props.type ?? '', machineId: props.machineId ?? '', reason: '', status: props.machineId === undefined ? 'open' : 'all' });
  const [applied, setApplied] = useState(filter);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<string | undefined>(undefined);
  const { data, error, reload } = usePoll(
    () => call<Page<DeadLetter>>(session, 'GET', `/rsm/dead-letters${query({ ...applied, limit: 100 })}`),
    [session, applied.type, applied.machineId, applied.reason, applied.status],
  );
  const act = (action: 'redrive' | 'discard', ids: string[]) =>
    props.ask({
      title: `${action === 'redrive' ? 'Redrive' : 'Discard'} ${ids.length} dead letter${ids.length === 1 ? '' : 's'}?`,
      detail:
        action === 'redrive'
          ? 'Each event goes back into its machine’s inbox and is handled again.'
          : 'Each letter is deleted: its event will never be handled.',
      run: async () => {
        const { results } = await call<{ results: LetterResult[] }>(session, 'POST', `/rsm/dead-letters/${action}`, { ids });
        setSelected(new Set());
        reload();
        return results.map((r) => `${r.id}: ${r.outcome}`).join(', ');
      },
    });
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };
  const items = data?.items ?? [];
  return (
    <section data-testid="dead-letters">
      {props.compact !== true && (
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            setApplied(filter);
          }}
        >
          <input placeholder="type" value={filter.type} onInput={(e) => setFilter({ ...filter, type: e.currentTarget.value })} />
          <input placeholder="machine id" value={filter.machineId} onInput={(e) => setFilter({ ...filter, machineId: e.currentTarget.value })} />
          <input placeholder="reason contains" value={filter.reason} onInput={(e) => setFilter({ ...filter, reason: e.currentTarget.value })} />
          <select value={filter.status} onChange={(e) => setFilter({ ...filter, status: e.currentTarget.value })}>
            <option value="open">open</option>
            <option value="redriven">redriven</option>
            <option value="all">all</option>
          </select>
          <button type="submit">Filter</button>
        </form>
      )}
      {error !== undefined && <p class="error">{error}</p>}
      <div class="actions">
        <button type="button" disabled={selected.size === 0} onClick={() => act('redrive', [...selected])} data-testid="redrive-selected">
          Redrive selected ({selected.size})
        </button>
        <button type="button" class="danger" disabled={selected.size === 0} onClick={() => act('discard', [...selected])}>
          Discard selected
        </button>
      </div>
      <Table head={['', 'machine', 'event', 'reason', 'attempts', 'at', '']} testid="dead-letter-table">
        {items.length === 0 && (
          <tr>
            <td colSpan={7}>{data === undefined ? 'Loading…' : 'No dead letters match.'}</td>
          </tr>
        )}
        {items.map((l) => [
          <tr key={l.id} data-letter={l.id} data-redriven={l.redrivenAt === null ? 'no' : 'yes'}>
            <td>
              <input type="checkbox" aria-label={`select ${l.id}`} checked={selected.has(l.id)} disabled={l.redrivenAt !== null} onChange={() => toggle(l.id)} />
            </td>
            <td>
              <a href={`#/machine/${enc(l.machineType)}/${enc(l.machineId)}`}>
                {l.machineType}/{l.machineId}
              </a>
            </td>
            <td>{l.event.type}</td>
            <td class="reason">{l.reason}</td>
            <td>{l.attempts}</td>
            <td>{l.redrivenAt === null ? time(l.createdAt) : `redriven ${time(l.redrivenAt)}`}</td>
            <td class="nowrap">
              <button type="button" onClick={() => setOpen(open === l.id ? undefined : l.id)}>
                Inspect
              </button>{' '}
              {l.redrivenAt === null && (
                <>
                  <button type="button" data-testid="redrive" onClick={() => act('redrive', [l.id])}>
                    Redrive
                  </button>{' '}
                  <button type="button" class="danger" onClick={() => act('discard', [l.id])}>
                    Discard
                  </button>
                </>
              )}
            </td>
          </tr>,
          open === l.id && (
            <tr key={`${l.id}-payload`}>
              <td colSpan={7}>
                <p>
                  <b>Reason:</b> {l.reason}
                </p>
                <p>
                  <b>Sender:</b> {l.senderType === null ? 'outside' : <MachineLink type={l.senderType} id={l.senderId ?? ''} />}
                </p>
                <pre data-testid="payload">{json(l.event)}</pre>
              </td>
            </tr>
          ),
        ])}
      </Table>
    </section>
  );
}

function MachinePage(props: { session: Session; type: string; id: string; ask: (c: Confirmation) => void }) {
  const { session, type, id } = props;
  const machine = usePoll(() => call<Inspection>(session, 'GET', `/rsm/machines/${enc(type)}/${enc(id)}${query({ limit: 50 })}`), [session, type, id]);
  const [diagram, setDiagram] = useState<Diagram | undefined>(undefined);
  useEffect(() => {
    diagramOf(session, type).then(setDiagram, () => setDiagram(undefined));
  }, [session, type]);
  const m = machine.data;
  return (
    <section data-testid="machine-page">
      <h2>
        {type}/{id}
      </h2>
      {machine.error !== undefined && <p class="error">{machine.error}</p>}
      {m !== undefined && (
        <>
          <p>
            State <b data-testid="machine-state">{m.state}</b> · status <b data-testid="machine-status">{m.status}</b> · version {m.version} · updated {time(m.updatedAt)}
          </p>
          <div class="columns">
            {diagram !== undefined && <StateDiagram diagram={diagram} highlight={m.state} />}
            <div>
              <h3>Data</h3>
              <pre data-testid="machine-data">{json(m.data)}</pre>
            </div>
          </div>
          <h3>Step history</h3>
          <Table head={['at', 'event', 'from → to', 'sends (first 10)', 'effects']} testid="steps">
            {m.recentSteps.map((s) => (
              <tr key={s.id}>
                <td>{time(s.at)}</td>
                <td>{s.eventType}</td>
                <td>
                  {s.fromState} → {s.toState}
                </td>
                <td>
                  {s.sends.length > 0 && (
                    <ul class="sends">
                      {s.sends.map((x, i) => (
                        <li key={i} data-send={x.kind}>
                          {x.event} → <MachineLink type={x.type} id={x.id} />
                          {x.kind === 'create' && ' (new)'}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td>{s.effects}</td>
              </tr>
            ))}
          </Table>
          <h3>Pending inbox ({m.inbox.length})</h3>
          <Table head={['seq', 'event', 'from', 'attempts', 'last error', 'age']} testid="inbox">
            {m.inbox.map((i) => (
              <tr key={i.seq}>
                <td>{i.seq}</td>
                <td>{i.event.type}</td>
                <td>{i.senderType === null ? 'outside' : <MachineLink type={i.senderType} id={i.senderId ?? ''} />}</td>
                <td>{i.attempts}</td>
                <td>{i.lastError ?? ''}</td>
                <td>{age(i.createdAt)}</td>
              </tr>
            ))}
          </Table>
          <h3>Outbox, not yet acknowledged ({m.outbox.length})</h3>
          <Table head={['to', 'kind', 'event', 'attempts', 'age']}>
            {m.outbox.map((o) => (
              <tr key={o.id}>
                <td>
                  {o.destination}
                  {o.to !== null && (
                    <>
                      : <MachineLink type={o.to.type} id={o.to.id} service={o.destination} />
                    </>
                  )}
                </td>
                <td>{o.kind}</td>
                <td>{o.eventType ?? ''}</td>
                <td>{o.attempts}</td>
                <td>{age(o.createdAt)}</td>
              </tr>
            ))}
          </Table>
          <h3>Timers ({m.timers.length})</h3>
          <Table head={['name', 'fires at', 'period']}>
            {m.timers.map((t) => (
              <tr key={t.name}>
                <td>{t.name}</td>
                <td>{time(t.fireAt)}</td>
                <td>{t.periodMs === null ? '' : `${t.periodMs} ms`}</td>
              </tr>
            ))}
          </Table>
          <h3>Activity attempts ({m.activities.length})</h3>
          <Table head={['activity', 'call', 'attempts', 'next attempt', 'last error']}>
            {m.activities.map((a) => (
              <tr key={a.id}>
                <td>{a.activity}</td>
                <td>{a.callId}</td>
                <td>{a.attempts}</td>
                <td>{time(a.nextAttemptAt)}</td>
                <td>{a.lastError ?? ''}</td>
              </tr>
            ))}
          </Table>
        </>
      )}
      <h3>Dead letters of this machine</h3>
      <DeadLetters session={session} type={type} machineId={id} ask={props.ask} compact />
    </section>
  );
}

/** The machines of a type in a state, a page at a time. */
function Machines(props: { session: Session; type: string; state: string }) {
  const [after, setAfter] = useState<string[]>([]);
  const cursor = after[after.length - 1];
  const { data, error } = usePoll(
    () => call<Page<MachineView>>(props.session, 'GET', `/rsm/machines${query({ type: props.type, state: props.state, limit: 100, after: cursor })}`),
    [props.session, props.type, props.state, cursor],
  );
  return (
    <section>
      <h2>
        {props.type} in {props.state}
      </h2>
      {error !== undefined && <p class="error">{error}</p>}
      <Table head={['machine', 'status', 'version', 'updated']} testid="machines">
        {(data?.items ?? []).map((m) => (
          <tr key={m.id}>
            <td>
              <MachineLink type={m.type} id={m.id} />
            </td>
            <td>{m.status}</td>
            <td>{m.version}</td>
            <td>{time(m.updatedAt)}</td>
          </tr>
        ))}
      </Table>
      <div class="actions">
        <button type="button" disabled={after.length === 0} onClick={() => setAfter(after.slice(0, -1))}>
          Previous
        </button>
        <button type="button" disabled={data?.next === null || data === undefined} onClick={() => data?.next != null && setAfter([...after, data.next])}>
          Next
        </button>
      </div>
    </section>
  );
}

function Audit(props: { session: Session }) {
  const { data, error } = usePoll(() => call<Page<AuditEntry>>(props.session, 'GET', `/rsm/audit${query({ limit: 100 })}`), [props.session]);
  return (
    <section>
      <h2>Audit log</h2>
      {error !== undefined && <p class="error">{error}</p>}
      <Table head={['at', 'who', 'token', 'action', 'targets', 'outcome']} testid="audit">
        {(data?.items ?? []).map((a) => (
          <tr key={a.id} data-action={a.action}>
            <td>{time(a.at)}</td>
            <td>{a.actor}</td>
            <td>{a.tokenId}</td>
            <td>{a.action}</td>
            <td>
              <pre>{json(a.targets)}</pre>
            </td>
            <td>
              <pre>{json(a.outcome)}</pre>
            </td>
          </tr>
        ))}
      </Table>
    </section>
  );
}

function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  const [confirmation, setConfirmation] = useState<Confirmation | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const route = useRoute();
  const signIn = (s: Session | undefined) => {
    saveSession(s);
    setSession(s);
  };
  useEffect(() => {
    const signOut = () => {
      saveSession(undefined);
      setSession(undefined);
    };
    addEventListener('rsm-console-unauthorized', signOut);
    return () => removeEventListener('rsm-console-unauthorized', signOut);
  }, []);
  if (session === undefined) return <Login signIn={signIn} />;
  const ask = (c: Confirmation) => setConfirmation(c);
  const [page, a, b] = route;
  return (
    <>
      <header>
        <strong>RSM console{settings.service !== '' && ` · ${settings.service}`}</strong>
        <nav>
          <a href="#/" class={page === undefined ? 'active' : ''}>
            Overview
          </a>
          <a href="#/dead-letters" class={page === 'dead-letters' ? 'active' : ''}>
            Dead letters
          </a>
          <a href="#/audit" class={page === 'audit' ? 'active' : ''}>
            Audit log
          </a>
        </nav>
        <Search session={session} />
        <button type="button" onClick={() => signIn(undefined)}>
          Sign out ({session.actor})
        </button>
      </header>
      {notice !== undefined && (
        <p class="notice" role="status" data-testid="notice">
          {notice}{' '}
          <button type="button" onClick={() => setNotice(undefined)}>
            ×
          </button>
        </p>
      )}
      <main>
        {page === 'machine' && a !== undefined && b !== undefined ? (
          <MachinePage key={`${a}/${b}`} session={session} type={a} id={b} ask={ask} />
        ) : page === 'machines' && a !== undefined && b !== undefined ? (
          <Machines key={`${a}/${b}`} session={session} type={a} state={b} />
        ) : page === 'dead-letters' ? (
          <DeadLetters key={a ?? ''} session={session} {...(a === undefined ? {} : { type: a })} ask={ask} />
        ) : page === 'audit' ? (
          <Audit session={session} />
        ) : (
          <Overview session={session} />
        )}
      </main>
      <ConfirmDialog
        confirmation={confirmation}
        close={(outcome) => {
          setConfirmation(undefined);
          if (outcome !== undefined) setNotice(`Done: ${outcome}`);
        }}
      />
    </>
  );
}

mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'neutral' });
const root = document.getElementById('app');
if (root !== null) render(<App />, root);
