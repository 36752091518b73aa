import type { InboundJob } from '../core/messages.js';

interface Waiting {
  readonly job: InboundJob;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Receives inbound jobs together: while `concurrency` receipts are in flight, jobs that arrive wait,
 * and the next receipt takes all of them (up to `maxMessages` events) in one transaction. Idle, a
 * job is received at once; under load, one commit takes many jobs' events instead of one each,
 * which is where the load is. Each job's promise settles when the transaction holding it commits
 * (its queue job completes only then) or fails.
 *
 * A transaction of several jobs that fails is not blamed on all of them: each job is then received
 * on its own, so one job the database refuses fails alone and the others go through.
 */
export class InboundBatcher {
  private waiting: Waiting[] = [];
  private running = 0;

  constructor(
    private readonly concurrency: number,
    private readonly maxMessages: number,
    private readonly receive: (jobs: readonly InboundJob[]) => Promise<void>,
  ) {}

  /** Receives `job`, alone or with others; resolves once it is committed. */
  submit(job: InboundJob): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      this.pump();
    });
  }

  /** Jobs waiting for a transaction (not those in one). */
  get backlog(): number {
    return this.waiting.length;
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      // At least one job, then as many as fit: a job is never split.
      let messages = 0;
      let n = 0;
      for (const item of this.waiting) {
        if (n > 0 && messages + item.job.messages.length > this.maxMessages) break;
        messages += item.job.messages.length;
        n += 1;
      }
      const batch = this.waiting.slice(0, n);
      this.waiting = this.waiting.slice(n);
      this.running += 1;
      void this.run(batch).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  private async run(batch: readonly Waiting[]): Promise<void> {
    try {
      await this.receive(batch.map((item) => item.job));
      for (const item of batch) item.resolve();
      return;
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(error);
        return;
      }
    }
    for (const item of batch) {
      try {
        await this.receive([item.job]);
        item.resolve();
      } catch (error) {
        item.reject(error);
      }
    }
  }
}
