/**
 * The one string order kleym sorts by: UTF-16 code units, as Go's `sort.Strings` on ASCII and as
 * the contract fixes for selectors and peer lists (docs/contract.md#rendering,
 * docs/contract.md#same-selection). Not `localeCompare`: its result depends on the ICU locale, and
 * its first call loads ICU's collation data (+6.6 MiB RSS in a bare `deno eval`; docs/benchmarks.md
 * "Memory").
 */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
