import type { RsmLogger } from '../core/logger.js';
import { MAX_TIMER_MS } from '../definition/types.js';

/**
 * A background loop: runs `work` every `intervalMs` (with jitter so that processes drift apart),
 * earlier when woken, never twice at once, and logs rather than dies when `work` throws.
 * `work` returns true when it found a full batch, to run again at once.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private nextAt = Infinity;
  private running = false;
  private again = false;
  private stopped = true;
  private current: Promise<void> = Promise.resolve();

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly work: () => Promise<boolean>,
    private readonly logger: RsmLogger,
  ) {}

  start(): void {
    this.stopped = false;
    this.wakeAt(Date.now() + Math.random() * this.intervalMs);
  }

  /** Runs at `at` (ms since epoch) if that is earlier than the next planned run. */
  wakeAt(at: number): void {
    if (this.stopped) return;
    if (this.running) {
      if (at <= Date.now()) this.again = true;
      else this.plan(at);
      return;
    }
    this.plan(at);
  }

  wake(): void {
    this.wakeAt(Date.now());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.current;
  }

  private plan(at: number): void {
    if (at >= this.nextAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.nextAt = at;
    // setTimeout fires a delay beyond MAX_TIMER_MS at once: a long interval waits in steps. Only a
    // step cut short that way waits again: a wall clock stepped back meanwhile (NTP, a resumed VM)
    // must not hold every background task for the size of the step.
    const delay = Math.max(0, at - Date.now());
    this.timer = setTimeout(() => {
      if (delay <= MAX_TIMER_MS || Date.now() >= at) return this.fire();
      this.timer = undefined;
      this.nextAt = Infinity;
      this.plan(at);
    }, Math.min(MAX_TIMER_MS, delay));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.nextAt = Infinity;
    if (this.stopped) return;
    // A run planned while one was running comes due before it ends: it follows at once, not beside it.
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.current = this.work()
      .catch((error: unknown) => {
        this.logger.warn({ err: String(error), task: this.name }, 'background task failed; will retry');
        return false;
      })
      .then((full) => {
        this.running = false;
        const jitter = this.intervalMs * (0.8 + Math.random() * 0.4);
        this.plan(full || this.again ? Date.now() : Date.now() + jitter);
        this.again = false;
      });
  }
}

/**
 * Per key, how long to leave alone a search that found nothing: after each empty look the wait
 * doubles from the task's interval, up to `maxMs`; a look that finds something resets it.
 */
export class IdleBackoff {
  private readonly keys = new Map<string, { misses: number; until: number }>();

  constructor(private readonly maxMs: number) {}

  /** Whether `key` may be looked at now. */
  due(key: string, now: number): boolean {
    return (this.keys.get(key)?.until ?? 0) <= now;
  }

  /** A look at `key` found nothing: the next waits twice the last (from `intervalMs`), at most `maxMs`. */
  idle(key: string, now: number, intervalMs: number): void {
    const misses = (this.keys.get(key)?.misses ?? 0) + 1;
    this.keys.set(key, { misses, until: now + Math.min(this.maxMs, intervalMs * 2 ** Math.min(misses, 30)) });
  }

  /** A look at `key` found something: it is looked at every interval again. */
  busy(key: string): void {
    this.keys.delete(key);
  }
}
