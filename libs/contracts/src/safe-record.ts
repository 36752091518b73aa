/**
 * Records keyed by outside input (delivery ids, owner ids) in machine data. Machine data is plain
 * JSON, so these are ordinary objects: `record[key]` with a key such as `constructor` reads
 * `Object.prototype`, and `record['__proto__'] = x` replaces the prototype. These read and write own
 * properties only, so every id the API accepts is an ordinary key. The lint rule in
 * eslint.config.js makes machine files use them.
 */
export function ownGet<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

export function ownHas(record: Readonly<Record<string, unknown>>, key: string): boolean {
  return Object.hasOwn(record, key);
}

export function ownSet<V>(record: Record<string, V>, key: string, value: V): void {
  Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true });
}

export function ownDelete(record: Record<string, unknown>, key: string): void {
  if (Object.hasOwn(record, key)) Reflect.deleteProperty(record, key);
}

/**
 * Appends to a list kept in machine data and drops its oldest entries beyond `limit`, so a caller
 * repeating a request cannot grow a machine's data (rewritten on every step) without end. Returns
 * how many were dropped, for a count kept beside the list.
 */
export function appendBounded<T>(list: T[], item: T, limit: number): number {
  list.push(item);
  const excess = list.length - limit;
  if (excess > 0) list.splice(0, excess);
  return Math.max(0, excess);
}
