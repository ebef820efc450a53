/**
 * Exit codes of the `kleym` CLI and the pure mapping from an outcome to one.
 *
 * | code | meaning                                                                   |
 * | ---- | ------------------------------------------------------------------------- |
 * | 0    | report printed, no error finding (warnings allowed unless `--strict`)      |
 * | 2    | report printed with error findings (or warnings with `--strict`)          |
 * | 3    | the binding was not found (the report is still printed)                   |
 * | 4    | usage, connection, discovery or permission failure (one line on stderr)   |
 * | 5    | internal failure: a bug (one line on stderr, never a stack trace)          |
 */
import type { Finding } from "./report.ts";

export const EXIT_OK = 0;
export const EXIT_FINDINGS = 2;
export const EXIT_NOT_FOUND = 3;
export const EXIT_FAILURE = 4;
export const EXIT_INTERNAL = 5;

export type Outcome =
  | { kind: "report"; findings: readonly Finding[]; strict: boolean }
  | { kind: "usage" }
  | { kind: "failure" }
  | { kind: "internal" };

export function exitCode(outcome: Outcome): number {
  switch (outcome.kind) {
    case "usage":
    case "failure":
      return EXIT_FAILURE;
    case "internal":
      return EXIT_INTERNAL;
    case "report": {
      const { findings, strict } = outcome;
      if (findings.some((f) => f.id === "binding-not-found")) return EXIT_NOT_FOUND;
      if (findings.some((f) => f.severity === "error")) return EXIT_FINDINGS;
      if (strict && findings.some((f) => f.severity === "warning")) return EXIT_FINDINGS;
      return EXIT_OK;
    }
  }
}
