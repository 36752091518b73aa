import { MAX_REPORTED_LAG_MS, type LagReport } from '../core/messages.js';

export type { LagReport };
/**
 * How far behind the deployment is, for admission control. Each service measures its own lag (how
 * long events waited between being accepted and being handled, p90 over the last seconds) and
 * tells the services that send to it in every acknowledgement, together with what it heard from
 * further downstream. A service that accepts work from outside can then refuse new work while any
 * service on the way is behind, instead of accepting it into a collapse.
 *
 * Each figure keeps the time it was measured at its origin and is dropped `staleAfterMs` later, so
 * a cycle between services cannot keep an old figure alive, and a service that stopped answering
 * stops counting rather than blocking intake forever.
 */


/** The services a report may name: one per service of a deployment, bounded. */
export const MAX_LOAD_ENTRIES = 64;

export interface LoadView {
  /** The largest lag among this service and the fresh reports from downstream, in ms. */
  readonly lagMs: number;
  /** Which service it comes from. */
  readonly source: string;
  readonly services: Readonly<Record<string, LagReport>>;
}

export class LoadMonitor {
  private samples: { at: number; ms: number }[] = [];
  /** ownLagMs sorts the window: the p90 is kept for 100 ms, as admission asks on every request. */
  private cached: { at: number; lagMs: number } | undefined;
  private readonly reports = new Map<string, LagReport>();
  /** When each report in `reports` was last renewed by a newer figure, on this process's clock. */
  private readonly heard = new Map<string, number>();
  /** When admission last let work through to ask again (see `admit`). */
  private lastProbeAt = Number.NEGATIVE_INFINITY;
  /** Since when this service handles events (see `started`). */
  private upSince: number;
  /** Work machines hold in their data (`ctx.backlog`): the last figure of each, and when it came. */
  private readonly backlogs = new Map<string, { at: number; ms: number }>();
  /** When the oldest caller's event still waiting for a step transaction here was accepted (see `watchIntake`). */
  private intakeSince: () => number | undefined = () => undefined;

  constructor(
    private readonly service: string,
    private readonly windowMs: number,
    private readonly staleAfterMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.upSince = now();
  }

  /**
   * The service (re)started handling events now. A wait counts at most from then: events that
   * waited while it was down are a backlog it works off, not a sign that it cannot keep up with
   * what comes in. If it cannot, their waits pass the limit anyway once it has been up that long.
   * Without this, every restart under load shut intake for seconds after the service had caught up.
   */
  started(): void {
    this.upSince = this.now();
  }

  /**
   * Where to read how long callers' events have waited for a step transaction in this process. The
   * waits of handled events show a burst only once its events are handled: until then the burst is
   * admitted whole, and its last callers wait past their deadline (a 504 instead of a 429). The
   * oldest event still waiting counts at once.
   */
  watchIntake(oldestWaitingSince: () => number | undefined): void {
    this.intakeSince = oldestWaitingSince;
  }

  /** An event was handled `waitedMs` after it was accepted. */
  observe(waitedMs: number): void {
    const at = this.now();
    this.samples.push({ at, ms: Math.max(0, Math.min(waitedMs, at - this.upSince)) });
    // Bounded however fast steps come: old samples go, and at most 4,096 are kept.
    if (this.samples.length > 4_096 || (this.samples[0]?.at ?? at) < at - this.windowMs) this.samples = this.samples.filter((s) => s.at >= at - this.windowMs).slice(-4_096);
  }

  /**
   * Machine `key` holds work in its data whose oldest item has waited `waitedMs` (0: none). Bounded:
   * a report of 0 or one older than the window goes, and at most 1,024 machines are kept (the
   * oldest reports go first).
   */
  backlog(key: string, waitedMs: number): void {
    const at = this.now();
    if (waitedMs <= 0) {
      this.backlogs.delete(key);
      return;
    }
    this.backlogs.delete(key);
    this.backlogs.set(key, { at, ms: Math.min(waitedMs, at - this.upSince) });
    if (this.backlogs.size > 1_024) this.backlogs.delete(this.backlogs.keys().next().value as string);
  }

  /**
   * This service's own lag: p90 of the waits of events handled within the window (0 when idle), or
   * the longest wait a machine reported for work held in its data, or that of the oldest caller's
   * event not yet taken by a step transaction, if that is longer.
   */
  ownLagMs(): number {
    const now = this.now();
    let lagMs = this.cached !== undefined && this.cached.at > now - 100 ? this.cached.lagMs : undefined;
    if (lagMs === undefined) {
      const recent = this.samples.filter((s) => s.at >= now - this.windowMs).map((s) => s.ms);
      recent.sort((a, b) => a - b);
      lagMs = recent.length === 0 ? 0 : (recent[Math.min(recent.length - 1, Math.floor(recent.length * 0.9))] ?? 0);
      this.cached = { at: now, lagMs };
    }
    // Read fresh each time, as the backlogs: one look at the oldest waiting intake.
    const waitingSince = this.intakeSince();
    if (waitingSince !== undefined) lagMs = Math.max(lagMs, Math.max(0, Math.min(now - waitingSince, now - this.upSince)));
    // Backlogs are few and reported on every step of their machine: read fresh each time, so a
    // report neither waits for the cache nor throws away the sorted p90.
    for (const [key, report] of this.backlogs) {
      if (report.at < now - this.windowMs) this.backlogs.delete(key);
      else lagMs = Math.max(lagMs, report.ms);
    }
    return lagMs;
  }

  /** Takes the reports another service sent with an acknowledgement; the newest figure per service wins. */
  merge(reports: Readonly<Record<string, LagReport>>): void {
    const now = this.now();
    for (const [service, sent] of Object.entries(reports)) {
      // A figure cannot be from the future: one dated ahead (a clock set ahead, a forged report)
      // would never go stale and would outrank every true figure after it, refusing for ever.
      const report = sent.at > now ? { lagMs: sent.lagMs, at: now } : sent;
      if (service === this.service || report.at < now - this.staleAfterMs) continue;
      const known = this.reports.get(service);
      if (known === undefined || known.at < report.at) {
        this.reports.set(service, report);
        this.heard.set(service, now);
      }
    }
    if (this.reports.size > MAX_LOAD_ENTRIES) {
      const newest = [...this.reports.entries()].sort((a, b) => b[1].at - a[1].at).slice(0, MAX_LOAD_ENTRIES);
      this.reports.clear();
      for (const [service, report] of newest) this.reports.set(service, report);
      for (const service of [...this.heard.keys()]) if (!this.reports.has(service)) this.heard.delete(service);
    }
  }

  /**
   * Whether work from outside may enter now, and the view that decided it. Refused while the view's
   * lag is over `maxLagMs`, with one exception. Reports from downstream come back only with the
   * acknowledgements of work sent there, so refusing all work also stops the news that would end
   * the refusal: a backlog that drained would keep intake shut until its last report went stale.
   * When no figure over the limit has been renewed for `probeAfterMs` (and none is this service's
   * own, which is always fresh), one item of work goes through, at most one per `probeAfterMs`, to
   * ask again, like a half-open circuit breaker.
   */
  admit(maxLagMs: number, probeAfterMs: number): { admitted: boolean; probe: boolean; view: LoadView } {
    const view = this.view();
    if (view.lagMs <= maxLagMs) return { admitted: true, probe: false, view };
    const now = this.now();
    const refused = { admitted: false, probe: false, view };
    if (now - this.lastProbeAt < probeAfterMs) return refused;
    // Every figure over the limit must be starved: this service's own is always fresh, and a
    // downstream one renewed lately says the refusal still holds.
    for (const [service, report] of Object.entries(view.services)) {
      if (report.lagMs <= maxLagMs) continue;
      if (service === this.service || now - (this.heard.get(service) ?? now) < probeAfterMs) return refused;
    }
    this.lastProbeAt = now;
    return { admitted: true, probe: true, view };
  }

  /** What this service reports to its senders: its own lag now and the fresh reports it holds. */
  report(): Record<string, LagReport> {
    const now = this.now();
    // At most a day, as receivers read it: a longer figure (a REST booking queued for days) would
    // make every acknowledgement this service sends unreadable, and its senders re-publish for ever.
    const out: Record<string, LagReport> = { [this.service]: { lagMs: Math.min(MAX_REPORTED_LAG_MS, Math.round(this.ownLagMs())), at: now } };
    for (const [service, report] of this.reports) if (report.at >= now - this.staleAfterMs) out[service] = report;
    return out;
  }

  view(): LoadView {
    const services = this.report();
    let lagMs = 0;
    let source = this.service;
    for (const [service, report] of Object.entries(services)) {
      if (report.lagMs > lagMs) {
        lagMs = report.lagMs;
        source = service;
      }
    }
    return { lagMs, source, services };
  }
}
