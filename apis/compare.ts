/**
 * The one string order kleym sorts by: UTF-16 code units, as Go's `sort.Strings` on ASCII and as
 * SPEC 4/5 fix for selectors and peer lists. Not `localeCompare`: its result depends on the ICU
 * locale, and its first call loads ICU's collation data (+6.6 MiB RSS in a bare `deno eval`,
 * issue 15).
 */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
