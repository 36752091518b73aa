import Table from 'cli-table3';

/**
 * Text the server sent, made safe for a terminal: control characters (an id or a reason may carry
 * ANSI escapes that would rewrite the screen) become `\uXXXX`, and long values are cut.
 */
export function cell(value: unknown, max = 60): string {
  const text = value === null || value === undefined ? '-' : value instanceof Date ? value.toISOString() : typeof value === 'string' ? value : JSON.stringify(value);
  const safe = escapeControls(text, false);
  return safe.length > max ? `${safe.slice(0, max - 1)}…` : safe;
}

/**
 * `text` with control characters shown as `\uXXXX` (and the line separators U+2028, U+2029): safe
 * to print to a terminal. With `keepLayout`, newline and tab stay as they are.
 */
export function escapeControls(text: string, keepLayout: boolean): string {
  // eslint-disable-next-line no-control-regex
  const controls = keepLayout ? /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g : /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
  return text.replace(controls, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A borderless table, columns two spaces apart, no colours: it reads in a terminal and greps in a pipe. */
export function table(head: readonly string[], rows: readonly (readonly unknown[])[]): string {
  if (rows.length === 0) return '(none)';
  const t = new Table({
    head: [...head],
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
    style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [], compact: true },
  });
  for (const row of rows) t.push(row.map((value) => (typeof value === 'number' ? String(value) : cell(value))));
  return t
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

/** `key: value` lines, keys aligned. */
export function fields(pairs: readonly (readonly [string, unknown])[]): string {
  const width = Math.max(...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${cell(value, 200)}`).join('\n');
}

/** JSON for a human: indented, control characters escaped the same way as in tables. */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
