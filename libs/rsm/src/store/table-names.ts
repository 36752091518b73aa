/** Schema-qualified, quoted names of the runtime's tables in one service's schema. */
export interface TableNames {
  readonly schema: string;
  readonly machines: string;
  readonly inbox: string;
  readonly requests: string;
  readonly sendSeq: string;
  /** The sequence that gives each new send counter its epoch. */
  readonly sendEpochs: string;
  readonly recvSeq: string;
  readonly reorder: string;
  readonly outbox: string;
  readonly timers: string;
  readonly activities: string;
  readonly deadLetters: string;
  readonly steps: string;
  readonly gapSkips: string;
  /** The operators' audit log (redrive, discard, skip gap). */
  readonly adminAudit: string;
}

const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Checks a schema name: lower-case letters, digits and underscores, as Postgres folds them. */
export function assertSchemaName(schema: string): string {
  if (!SCHEMA_PATTERN.test(schema)) {
    throw new Error(`database schema ${JSON.stringify(schema)} must match ${SCHEMA_PATTERN.source}`);
  }
  return schema;
}

export function tableNames(schema: string): TableNames {
  const s = `"${assertSchemaName(schema)}"`;
  return {
    schema,
    machines: `${s}.rsm_machines`,
    inbox: `${s}.rsm_inbox`,
    requests: `${s}.rsm_requests`,
    sendSeq: `${s}.rsm_send_seq`,
    sendEpochs: `${s}.rsm_send_epoch`,
    recvSeq: `${s}.rsm_recv_seq`,
    reorder: `${s}.rsm_reorder`,
    outbox: `${s}.rsm_outbox`,
    timers: `${s}.rsm_timers`,
    activities: `${s}.rsm_activities`,
    deadLetters: `${s}.rsm_dead_letters`,
    steps: `${s}.rsm_steps`,
    gapSkips: `${s}.rsm_gap_skips`,
    adminAudit: `${s}.rsm_admin_audit`,
  };
}
