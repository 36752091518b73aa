/**
 * The JSON text of machine data a step committed, remembered with the data object so that the
 * same data is not serialized again: the planner checks that a handler's data survives JSON by
 * serializing it, and that text becomes the next handler's working copy (one parse instead of a
 * structured clone) and the row written at commit. Data the runtime committed is never handed to a
 * handler (each handler works on a copy), so a remembered text cannot go stale.
 */
const texts = new WeakMap<object, string>();

/** Parses `text` and remembers it as the JSON of the result (data read from a row). */
export function parseJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  rememberJson(value, text);
  return value;
}

/** The text remembered for `value`, if any. */
export function rememberedJson(value: unknown): string | undefined {
  return typeof value === 'object' && value !== null ? texts.get(value) : undefined;
}

/** Forgets the text of `value`: a handler changed it in place and failed. */
export function forgetJson(value: unknown): void {
  if (typeof value === 'object' && value !== null) texts.delete(value);
}

/** Remembers `text` as the JSON of `value` (objects only). */
export function rememberJson(value: unknown, text: string): void {
  if (typeof value === 'object' && value !== null) texts.set(value, text);
}

/** The JSON text of `value`, remembered or computed. */
export function jsonText(value: unknown): string {
  const text = typeof value === 'object' && value !== null ? texts.get(value) : undefined;
  if (text !== undefined) return text;
  // JSON.stringify(undefined) is undefined, not text: such data is written as null.
  const computed: string | undefined = JSON.stringify(value);
  return computed ?? 'null';
}

/** A deep copy of JSON data for a handler to work on. */
export function copyJson<T>(value: T): T {
  const text = typeof value === 'object' && value !== null ? texts.get(value) : undefined;
  return text !== undefined ? (JSON.parse(text) as T) : structuredClone(value);
}

/**
 * A value as it comes back from the database: production keeps events, timer payloads and
 * activity outputs as JSON, so a Date arrives as a string, a Map as {}, an undefined field not at
 * all. The in-memory runtimes pass what they deliver through it. What JSON cannot hold is left as
 * it is, for the step to refuse as production does.
 */
export function asStored<T>(value: T): T {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? value : (JSON.parse(text) as T);
  } catch {
    return value;
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * What is wrong with a string no part of the system should store, or undefined: Postgres text
 * refuses NUL, JSON has no lone surrogates.
 *
 * @example
 * badTextReason('a\u0000b'); // 'contains a NUL character'
 */
export function badTextReason(value: string): string | undefined {
  if (value.includes('\u0000')) return 'contains a NUL character';
  if (LONE_SURROGATE.test(value)) return 'contains a lone UTF-16 surrogate';
  return undefined;
}

/** What {@link badTextReason} refuses, each character of it, for replacing. */
const UNSTORABLE_CHARS = new RegExp(`\\u0000|${LONE_SURROGATE.source}`, 'g');

/**
 * Why a JSON-serializable value cannot be stored as jsonb (a string or key holding a NUL or a lone
 * surrogate), or undefined. Walks what `JSON.stringify` would write.
 */
export function unstorableReason(value: unknown): string | undefined {
  // As JSON.stringify: a value's toJSON is called once, not on what it returns; keys of values it
  // leaves out (undefined, functions, symbols) are not written.
  const stack: { item: unknown; converted: boolean }[] = [{ item: value, converted: false }];
  const written = (child: unknown) => child !== undefined && typeof child !== 'function' && typeof child !== 'symbol';
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    let { item } = next;
    if (!next.converted && typeof item === 'object' && item !== null && typeof (item as { toJSON?: unknown }).toJSON === 'function') item = (item as { toJSON: () => unknown }).toJSON();
    if (typeof item === 'string') {
      if (badTextReason(item) !== undefined) return 'a string holds a NUL character or a lone UTF-16 surrogate, which Postgres cannot store';
    } else if (Array.isArray(item)) {
      for (const child of item as unknown[]) stack.push({ item: child, converted: false });
    } else if (typeof item === 'object' && item !== null) {
      for (const [key, child] of Object.entries(item)) {
        if (!written(child)) continue;
        stack.push({ item: key, converted: true });
        stack.push({ item: child, converted: false });
      }
    }
  }
  return undefined;
}

/** Text cut to what Postgres can store: NULs and lone surrogates replaced by U+FFFD, at most `max` characters. */
export function storableText(text: string, max: number): string {
  const cut = text.length > max ? `${text.slice(0, max)}... (${text.length - max} more characters)` : text;
  return cut.replace(UNSTORABLE_CHARS, '\uFFFD');
}
