import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { AnyMachineDefinition } from '../definition/machine-definition.js';

/** Machine type -> event type -> schema: the contracts events from anywhere must meet. */
export type EventContracts = Readonly<Record<string, Readonly<Record<string, StandardSchemaV1>>>>;

/**
 * The machine types a service owns and where the others live. Built at start-up; a duplicate type
 * fails fast, as an unknown route fails the step that uses it.
 */
export class MachineRegistry {
  private readonly definitions = new Map<string, AnyMachineDefinition>();

  constructor(
    private readonly service: string,
    private readonly routes: Readonly<Record<string, string>>,
    private readonly contracts: EventContracts = {},
  ) {}

  /**
   * Adds a machine type. Its events are checked against the type's contracts, where given, before
   * any handler runs (the definition's own schemas win for an event type both name).
   */
  register(given: AnyMachineDefinition): void {
    const contract = Object.hasOwn(this.contracts, given.type) ? this.contracts[given.type] : undefined;
    const definition: AnyMachineDefinition =
      contract === undefined ? given : { ...given, spec: { ...given.spec, schemas: { ...contract, ...(given.spec.schemas ?? {}) } } };
    if (this.definitions.has(definition.type)) {
      throw new Error(`machine type ${definition.type} is registered twice in service ${this.service}`);
    }
    const routed = Object.hasOwn(this.routes, definition.type) ? this.routes[definition.type] : undefined;
    if (routed !== undefined && routed !== this.service) {
      throw new Error(`machine type ${definition.type} is registered in ${this.service} but routed to ${routed}`);
    }
    this.definitions.set(definition.type, definition);
  }

  get(type: string): AnyMachineDefinition | undefined {
    return this.definitions.get(type);
  }

  /** The definition of a local type, or an error naming the types this service owns. */
  require(type: string): AnyMachineDefinition {
    const definition = this.definitions.get(type);
    if (definition === undefined) {
      throw new Error(`service ${this.service} owns no machine type ${type} (owns: ${[...this.definitions.keys()].join(', ') || 'none'})`);
    }
    return definition;
  }

  /** The service that owns `type`: this one, a routed one, or undefined when nobody is known. */
  serviceOf(type: string): string | undefined {
    if (this.definitions.has(type)) return this.service;
    // Own keys only: a type named like a property every object has (`toString`) is not routed.
    return Object.hasOwn(this.routes, type) ? this.routes[type] : undefined;
  }

  types(): string[] {
    return [...this.definitions.keys()];
  }
}

/** A new machine row: its type's initial state and data, and the definition version that made it. */
export interface NewMachine {
  readonly type: string;
  readonly id: string;
  readonly state: string;
  readonly data: unknown;
  readonly definition_version: number;
}

/** The row of a newly created machine: its type's initial state and data. */
export function newMachineRow(definition: AnyMachineDefinition, ref: { type: string; id: string }): NewMachine {
  const state: string = definition.initial as string;
  const data: unknown = definition.spec.initialData(ref.id);
  return { type: ref.type, id: ref.id, state, data, definition_version: definition.version };
}
