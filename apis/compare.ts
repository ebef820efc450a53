/**
 * The one string order kleym sorts by: UTF-16 code units, as Go's `sort.Strings` on ASCII and as
 * SPEC 4/5 fix for selectors and peer lists. Not `localeCompare`: its result depends on the ICU
 * locale, and its first call loads ICU's collation data (about 3 MiB of RSS, issue 15).
 */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
