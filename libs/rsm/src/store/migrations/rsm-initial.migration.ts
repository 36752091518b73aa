import type { MigrationInterface, QueryRunner } from 'typeorm';
import { tableNames } from '../table-names.js';

/**
 * The runtime's tables. Built per schema because each service keeps them in its own schema.
 * Every hot query of the runtime is served by one of the indexes created here.
 */
export function rsmInitialMigration(schema: string): new () => MigrationInterface {
  const t = tableNames(schema);
  return class RsmInitial1763700000000 implements MigrationInterface {
    readonly name = 'RsmInitial1763700000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(`
        CREATE TABLE ${t.machines} (
          type text NOT NULL,
          id text NOT NULL,
          state text NOT NULL,
          data jsonb NOT NULL,
          status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'halted', 'faulted')),
          definition_version integer NOT NULL,
          version bigint NOT NULL DEFAULT 0,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (type, id)
        )`);
      await q.query(`CREATE INDEX rsm_machines_type_state ON ${t.machines} (type, state)`);

      await q.query(`
        CREATE TABLE ${t.inbox} (
          seq bigserial PRIMARY KEY,
          machine_type text NOT NULL,
          machine_id text NOT NULL,
          event jsonb NOT NULL,
          event_id text,
          sender_type text,
          sender_id text,
          timer_name text,
          request_key text,
          attempts integer NOT NULL DEFAULT 0,
          not_before timestamptz,
          last_error text,
          created_at timestamptz NOT NULL DEFAULT now()
        )`);
      await q.query(`CREATE INDEX rsm_inbox_machine ON ${t.inbox} (machine_type, machine_id, seq)`);
      await q.query(`CREATE INDEX rsm_inbox_created ON ${t.inbox} (created_at)`);

      await q.query(`
        CREATE TABLE ${t.requests} (
          key text PRIMARY KEY,
          machine_type text NOT NULL,
          machine_id text NOT NULL,
          status text NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
          reply jsonb,
          error text,
          created_at timestamptz NOT NULL DEFAULT now(),
          completed_at timestamptz
        )`);
      await q.query(`CREATE INDEX rsm_requests_created ON ${t.requests} (created_at)`);

      for (const table of [t.sendSeq, t.recvSeq]) {
        await q.query(`
          CREATE TABLE ${table} (
            sender text NOT NULL,
            receiver text NOT NULL,
            last_seq bigint NOT NULL,
            PRIMARY KEY (sender, receiver)
          )`);
      }
      await q.query(`
        CREATE TABLE ${t.reorder} (
          sender text NOT NULL,
          receiver text NOT NULL,
          seq bigint NOT NULL,
          message jsonb NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (sender, receiver, seq)
        )`);

      await q.query(`
        CREATE TABLE ${t.outbox} (
          id bigserial PRIMARY KEY,
          destination text NOT NULL,
          message jsonb NOT NULL,
          attempts integer NOT NULL DEFAULT 0,
          next_attempt_at timestamptz NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now()
        )`);
      await q.query(`CREATE INDEX rsm_outbox_next_attempt ON ${t.outbox} (next_attempt_at)`);

      await q.query(`
        CREATE TABLE ${t.timers} (
          machine_type text NOT NULL,
          machine_id text NOT NULL,
          name text NOT NULL,
          fire_at timestamptz NOT NULL,
          period_ms bigint,
          payload jsonb,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (machine_type, machine_id, name)
        )`);
      await q.query(`CREATE INDEX rsm_timers_fire_at ON ${t.timers} (fire_at)`);

      await q.query(`
        CREATE TABLE ${t.activities} (
          id bigserial PRIMARY KEY,
          machine_type text NOT NULL,
          machine_id text NOT NULL,
          activity text NOT NULL,
          call_id text NOT NULL,
          idempotency_key text NOT NULL UNIQUE,
          input jsonb NOT NULL,
          attempts integer NOT NULL DEFAULT 0,
          next_attempt_at timestamptz NOT NULL,
          last_error text,
          created_at timestamptz NOT NULL DEFAULT now()
        )`);
      await q.query(`CREATE INDEX rsm_activities_next_attempt ON ${t.activities} (next_attempt_at)`);

      await q.query(`
        CREATE TABLE ${t.deadLetters} (
          id bigserial PRIMARY KEY,
          machine_type text NOT NULL,
          machine_id text NOT NULL,
          event jsonb NOT NULL,
          sender_type text,
          sender_id text,
          request_key text,
          reason text NOT NULL,
          attempts integer NOT NULL DEFAULT 0,
          created_at timestamptz NOT NULL DEFAULT now(),
          redriven_at timestamptz
        )`);
      await q.query(`CREATE INDEX rsm_dead_letters_open ON ${t.deadLetters} (created_at) WHERE redriven_at IS NULL`);
      await q.query(`CREATE INDEX rsm_dead_letters_machine ON ${t.deadLetters} (machine_type, machine_id)`);

      await q.query(`
        CREATE TABLE ${t.steps} (
          id bigserial PRIMARY KEY,
          machine_type text NOT NULL,
          machine_id text NOT NULL,
          event_type text NOT NULL,
          event_id text,
          from_state text NOT NULL,
          to_state text NOT NULL,
          effects integer NOT NULL,
          at timestamptz NOT NULL DEFAULT now()
        )`);
      await q.query(`CREATE INDEX rsm_steps_machine ON ${t.steps} (machine_type, machine_id, id)`);
      await q.query(`CREATE INDEX rsm_steps_at ON ${t.steps} (at)`);
    }

    async down(q: QueryRunner): Promise<void> {
      for (const table of [
        t.steps, t.deadLetters, t.activities, t.timers, t.outbox, t.reorder,
        t.recvSeq, t.sendSeq, t.requests, t.inbox, t.machines,
      ]) {
        await q.query(`DROP TABLE IF EXISTS ${table}`);
      }
    }
  };
}
