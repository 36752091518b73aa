import { EntitySchema } from 'typeorm';
import type { StepSend } from '../../planning/step-planner.js';

/** A stored machine, as inspection reads it. */
export interface MachineRow {
  type: string;
  id: string;
  state: string;
  data: unknown;
  status: 'active' | 'halted' | 'faulted';
  definitionVersion: number;
  version: string;
  createdAt: Date;
  updatedAt: Date;
}

/** A dead letter: an event that will not be handled unless redriven. */
export interface DeadLetterRow {
  id: string;
  machineType: string;
  machineId: string;
  event: { type: string };
  senderType: string | null;
  senderId: string | null;
  requestKey: string | null;
  reason: string;
  attempts: number;
  createdAt: Date;
  redrivenAt: Date | null;
}

/** One handled step, kept for a bounded time for inspection. */
export interface StepRow {
  id: string;
  machineType: string;
  machineId: string;
  eventType: string;
  eventId: string;
  fromState: string;
  toState: string;
  /** Every effect of the step: sends, creates, timers, activity calls, replies. */
  effects: number;
  /** The step's first sends and creates, in order, at most STEP_SENDS_KEPT (10); `effects` counts them all. Steps stored before this was kept have none. */
  sends: readonly StepSend[];
  /** The definition version of the code that ran the step (null for steps stored before it was kept). */
  definitionVersion: number | null;
  at: Date;
}

/** An event waiting in a machine's inbox. */
export interface InboxRow {
  seq: string;
  machineType: string;
  machineId: string;
  event: { type: string };
  eventId: string;
  senderType: string | null;
  senderId: string | null;
  attempts: number;
  notBefore: Date | null;
  lastError: string | null;
  createdAt: Date;
}

/**
 * TypeORM entity schemas of the tables inspection reads, in `schema`. Schemas rather than decorated
 * classes because each service keeps the runtime tables in a schema of its own.
 */
export function rsmEntities(schema: string) {
  const machine = new EntitySchema<MachineRow>({
    name: `RsmMachine_${schema}`,
    tableName: 'rsm_machines',
    schema,
    columns: {
      type: { type: 'text', primary: true },
      id: { type: 'text', primary: true },
      state: { type: 'text' },
      data: { type: 'jsonb' },
      status: { type: 'text' },
      definitionVersion: { type: 'integer', name: 'definition_version' },
      version: { type: 'bigint' },
      createdAt: { type: 'timestamptz', name: 'created_at' },
      updatedAt: { type: 'timestamptz', name: 'updated_at' },
    },
  });
  const deadLetter = new EntitySchema<DeadLetterRow>({
    name: `RsmDeadLetter_${schema}`,
    tableName: 'rsm_dead_letters',
    schema,
    columns: {
      id: { type: 'bigint', primary: true, generated: 'increment' },
      machineType: { type: 'text', name: 'machine_type' },
      machineId: { type: 'text', name: 'machine_id' },
      event: { type: 'jsonb' },
      senderType: { type: 'text', name: 'sender_type', nullable: true },
      senderId: { type: 'text', name: 'sender_id', nullable: true },
      requestKey: { type: 'text', name: 'request_key', nullable: true },
      reason: { type: 'text' },
      attempts: { type: 'integer' },
      createdAt: { type: 'timestamptz', name: 'created_at' },
      redrivenAt: { type: 'timestamptz', name: 'redriven_at', nullable: true },
    },
  });
  const step = new EntitySchema<StepRow>({
    name: `RsmStep_${schema}`,
    tableName: 'rsm_steps',
    schema,
    columns: {
      id: { type: 'bigint', primary: true, generated: 'increment' },
      machineType: { type: 'text', name: 'machine_type' },
      machineId: { type: 'text', name: 'machine_id' },
      eventType: { type: 'text', name: 'event_type' },
      eventId: { type: 'text', name: 'event_id' },
      fromState: { type: 'text', name: 'from_state' },
      toState: { type: 'text', name: 'to_state' },
      effects: { type: 'integer' },
      sends: { type: 'jsonb' },
      definitionVersion: { type: 'integer', name: 'definition_version', nullable: true },
      at: { type: 'timestamptz' },
    },
  });
  const inbox = new EntitySchema<InboxRow>({
    name: `RsmInbox_${schema}`,
    tableName: 'rsm_inbox',
    schema,
    columns: {
      seq: { type: 'bigint', primary: true, generated: 'increment' },
      machineType: { type: 'text', name: 'machine_type' },
      machineId: { type: 'text', name: 'machine_id' },
      event: { type: 'jsonb' },
      eventId: { type: 'text', name: 'event_id' },
      senderType: { type: 'text', name: 'sender_type', nullable: true },
      senderId: { type: 'text', name: 'sender_id', nullable: true },
      attempts: { type: 'integer' },
      notBefore: { type: 'timestamptz', name: 'not_before', nullable: true },
      lastError: { type: 'text', name: 'last_error', nullable: true },
      createdAt: { type: 'timestamptz', name: 'created_at' },
    },
  });
  return { machine, deadLetter, step, inbox };
}

export type RsmEntities = ReturnType<typeof rsmEntities>;
