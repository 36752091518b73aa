import type { PoolClient } from 'pg';
import { holdWritesThisTick, isPipelined } from './transaction.js';

/**
 * Statements of one transaction sent without waiting for each answer: on a connection in `pg`'s
 * pipeline mode they all go out at once and the server runs them one after another, in the order
 * sent, so a transaction pays one round trip for them, not one each (without pipeline mode each is
 * sent once the one before it answered, as if each were awaited). After a failed statement the
 * server refuses the rest of the transaction ("current transaction is aborted"); the caller gets
 * the first failure, the one that says what went wrong, never a refusal that followed it.
 *
 * @example
 * const sent = new Pipelined(client);
 * sent.add(() => client.query('DELETE FROM inbox WHERE seq = ANY($1)', [seqs]));
 * const created = await sent.answer(() => client.query('INSERT INTO machines ... RETURNING id'));
 * sent.add(() => client.query('INSERT INTO inbox ...'));
 * await sent.settled();
 */
export class Pipelined {
  /**
   * Whether statements go out without waiting: without pipeline mode each waits for the one before
   * it (`pg` would queue them itself, but warns that queueing is deprecated), and none is sent
   * after one that failed, as when each was awaited in turn.
   */
  readonly pipelined: boolean;
  private readonly sent: Promise<unknown>[] = [];
  private last: Promise<unknown> = Promise.resolve();

  /** Statements for `client`: sent at once in pipeline mode, else each after the last one's answer. */
  constructor(private readonly client: PoolClient) {
    this.pipelined = isPipelined(client);
  }

  /** Sends a statement; its failure is reported by {@link settled} or {@link answer}. */
  add(send: () => Promise<unknown>): void {
    void this.send(send);
  }

  /**
   * Sends a statement and returns its answer, to be read once {@link settled} or a later
   * {@link answer} resolved (before that, it may be a refusal that followed an earlier failure).
   */
  send<T>(send: () => Promise<T>): Promise<T> {
    // Statements sent in one go also leave in one write (see holdWritesThisTick).
    if (this.pipelined) holdWritesThisTick(this.client);
    const statement = this.pipelined ? send() : this.last.then(send);
    statement.catch(() => undefined);
    this.sent.push(statement);
    this.last = statement;
    return statement;
  }

  /** The answer of a statement that what follows depends on (those sent before it must succeed too). */
  async answer<T>(send: () => Promise<T>): Promise<T> {
    const statement = this.send(send);
    await this.settled();
    return statement;
  }

  /** Resolves once every statement sent succeeded; rejects with the first failure, in the order sent. */
  async settled(): Promise<void> {
    for (const statement of this.sent) await statement;
  }
}
