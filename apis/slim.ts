/**
 * Informer transforms (apis/watch.ts `transform`): smaller cached copies of Kubernetes objects.
 *
 * - `keepFields(top, metadata)`: a copy with only `apiVersion`, `kind`, the named top-level
 *   fields and the named `metadata` fields. For objects kleym never writes back, or writes
 *   through a request that sends only what it owns.
 * - `dropFields(top, metadata)`: a copy without the named fields. For objects kleym writes back
 *   whole (a PUT), where only fields the API server keeps by itself may go.
 *
 * `metadata.managedFields` is always safe to drop from an object that is PUT back: an update
 * whose managedFields are absent keeps the live object's (the API server's field manager falls
 * back to the live entries so that clients that do not know about managedFields cannot wipe them).
 * `name`, `namespace` and `resourceVersion` are always kept (the cache and the informer key on them).
 */
import type { ObjectMeta } from "kubernetes-types/meta/v1.d.ts";
import type { KubeObject } from "./rest.ts";

const ALWAYS: readonly (keyof ObjectMeta)[] = ["name", "namespace", "resourceVersion"];

export function keepFields<T extends KubeObject>(
  top: readonly string[],
  metadata: readonly (keyof ObjectMeta)[],
): (obj: T) => T {
  const keepMeta = new Set<string>([...ALWAYS, ...metadata]);
  return (obj) => {
    const source = obj as unknown as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    if (obj.apiVersion !== undefined) out.apiVersion = obj.apiVersion;
    if (obj.kind !== undefined) out.kind = obj.kind;
    for (const f of top) if (source[f] !== undefined) out[f] = source[f];
    const meta: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj.metadata ?? {})) if (keepMeta.has(k)) meta[k] = v;
    out.metadata = meta;
    return out as unknown as T;
  };
}

export function dropFields<T extends KubeObject>(
  top: readonly string[],
  metadata: readonly (keyof ObjectMeta)[],
): (obj: T) => T {
  const dropTop = new Set(top);
  const dropMeta = new Set<string>(metadata.filter((m) => !ALWAYS.includes(m)));
  return (obj) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) if (!dropTop.has(k)) out[k] = v;
    const meta: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj.metadata ?? {})) if (!dropMeta.has(k)) meta[k] = v;
    out.metadata = meta;
    return out as unknown as T;
  };
}
