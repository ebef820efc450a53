/**
 * Reading the trusted parts of a binding (metadata the API server sets).
 *
 * API: `bindingKey(binding)` — name, namespace and UID, "" when absent (the server always sets
 * them; "" keeps the pure core total for hand-built inputs).
 */

import type { BindingInput } from "./types.ts";

export interface BindingKey {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
}

export function bindingKey(binding: BindingInput): BindingKey {
  const meta = binding.metadata ?? {};
  return { name: meta.name ?? "", namespace: meta.namespace ?? "", uid: meta.uid ?? "" };
}
