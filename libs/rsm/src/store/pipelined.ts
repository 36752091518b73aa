/**
 * Statements of one transaction sent without waiting for each answer: on a connection in `pg`'s
 * pipeline mode they all go out at once and the server runs them one after another, in the order
 * sent, so a transaction pays one round trip for them, not one each (without pipeline mode `pg`
 * queues them, with the same order and outcome). After a failed statement the server refuses the
 * rest of the transaction ("current transaction is aborted"); the caller gets the first failure,
 * the one that says what went wrong, never a refusal that followed it.
 *
 * @example
 * const sent = new Pipelined();
 * sent.add(client.query('DELETE FROM inbox WHERE seq = ANY($1)', [seqs]));
 * const created = await sent.answer(client.query('INSERT INTO machines ... RETURNING id'));
 * sent.add(client.query('INSERT INTO inbox ...'));
 * await sent.settled();
 */
export class Pipelined {
  private readonly sent: Promise<unknown>[] = [];

  /** A statement sent; its failure is reported by {@link settled} or {@link answer}. */
  add(statement: Promise<unknown>): void {
    statement.catch(() => undefined);
    this.sent.push(statement);
  }

  /** The answer of a statement that what follows depends on (those sent before it must succeed too). */
  async answer<T>(statement: Promise<T>): Promise<T> {
    this.add(statement);
    await this.settled();
    return statement;
  }

  /** Resolves once every statement sent succeeded; rejects with the first failure, in the order sent. */
  async settled(): Promise<void> {
    for (const statement of this.sent) await statement;
  }
}
