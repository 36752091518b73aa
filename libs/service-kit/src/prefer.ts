/**
 * Whether a request's `Prefer` header (RFC 7240) asks for `return=minimal`: the client does not
 * want the resource in the answer, so a route may skip reading it back after a change. Preferences
 * are comma-separated, each optionally with `;`-parameters; names and the value compare without
 * case, and the value may be quoted. Anything else (no header, `return=representation`, a
 * malformed header) means the full answer, as a server that ignores the header would give.
 *
 * @example
 * if (prefersMinimal(request.headers.prefer)) response.setHeader('Preference-Applied', 'return=minimal');
 */
export function prefersMinimal(header: string | readonly string[] | undefined): boolean {
  if (header === undefined) return false;
  // A bound on the work a hostile header can cause; real ones hold a few short preferences.
  const text = (typeof header === 'string' ? header : header.join(',')).slice(0, 1_024);
  return text.split(',').some((preference) => /^\s*return\s*=\s*(minimal|"minimal")\s*(;|$)/i.test(preference));
}
