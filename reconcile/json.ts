/**
 * Small helpers for decoding and comparing JSON-shaped values (what the API server sends).
 *
 * API: `isRecord`, `asRecord` (the object, or {} for anything else), `show` (a value as it should appear in a user-facing message),
 * `jsonEqual` (structural equality where object key order does not matter and a key holding
 * `undefined` counts as absent — the way the value would serialise).
 */

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `value` when it is a JSON object, else an empty one: for reading fields that may be absent. */
export function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

/** Render a value for a message: strings quoted and escaped, everything else as JSON. */
export function show(value: unknown): string {
  if (value === undefined) return "undefined";
  return JSON.stringify(value);
}

/**
 * Called for every binding on every reconcile (status, drift, watch filters), so it allocates
 * nothing: no key arrays, no closures (docs/benchmarks.md "Memory").
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (!isRecord(a) || !isRecord(b)) return false;
  let defined = 0;
  for (const key in a) {
    if (!Object.hasOwn(a, key) || a[key] === undefined) continue;
    if (!Object.hasOwn(b, key) || !jsonEqual(a[key], b[key])) return false;
    defined++;
  }
  for (const key in b) {
    if (Object.hasOwn(b, key) && b[key] !== undefined) defined--;
  }
  return defined === 0;
}
