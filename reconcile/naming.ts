/**
 * The managed ClusterSPIFFEID's name (docs/contract.md#naming), compatible with the Go reference
 * implementation so objects it created are recognised:
 *
 *   base   = sanitize("kleym-<namespace>-<binding>")
 *   suffix = first 8 hex chars of SHA-1(SPIFFE ID)
 *   name   = truncate(base, 63 - len(mode) - 8 - 2, trailing "-" trimmed) + "-<mode>-<suffix>"
 *
 * with mode `pool` (PoolOnly) or `objective` (PerObjective). The result is always a valid
 * DNS-1123 label of at most 63 characters.
 *
 * API: `clusterSPIFFEIDName(namespace, bindingName, mode, spiffeID)`, `sanitizeNameBase(raw)`.
 */

import { createHash } from "node:crypto";
import type { BindingMode } from "./types.ts";

const MAX_NAME_LENGTH = 63;
const SUFFIX_LENGTH = 8;

const NAME_MODE: Readonly<Record<BindingMode, string>> = {
  PoolOnly: "pool",
  PerObjective: "objective",
};

/**
 * Lowercase, keep `[a-z0-9]`, turn every run of anything else into one `-`, trim `-` at both
 * ends; an empty result becomes `kleym`.
 */
export function sanitizeNameBase(raw: string): string {
  const sanitized = raw.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  return sanitized === "" ? "kleym" : sanitized;
}

export function clusterSPIFFEIDName(
  namespace: string,
  bindingName: string,
  mode: BindingMode,
  spiffeID: string,
): string {
  const modePart = NAME_MODE[mode];
  const suffix = createHash("sha1").update(spiffeID).digest("hex").slice(0, SUFFIX_LENGTH);
  const budget = MAX_NAME_LENGTH - modePart.length - SUFFIX_LENGTH - 2;
  const base = sanitizeNameBase(`kleym-${namespace}-${bindingName}`)
    .slice(0, budget)
    .replace(/-+$/, "");
  return `${base}-${modePart}-${suffix}`;
}
