/**
 * The shapes of kleym's Kubernetes REST requests: which resource (`ResourceDescriptor`) and its
 * paths, the object and list envelopes, and each verb's options. apis/rest.ts sends them.
 */
import type { ListMeta, ObjectMeta, Status } from "kubernetes-types/meta/v1.d.ts";

/** Identifies one served resource. `group` is "" for the core group. */
export interface ResourceDescriptor {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

/** The least every Kubernetes object has. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface ObjectList<T> {
  apiVersion?: string;
  kind?: string;
  metadata: ListMeta;
  items: T[];
}

/**
 * A typed watch event. BOOKMARK objects carry only `metadata.resourceVersion`; ERROR carries a
 * `metav1.Status` (code 410 means the watch's resourceVersion is too old: relist).
 */
export type WatchEvent<T> =
  | { type: "ADDED" | "MODIFIED" | "DELETED"; object: T }
  | { type: "BOOKMARK"; object: { metadata: { resourceVersion: string } } }
  | { type: "ERROR"; object: Status };

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface NamespacedOptions extends RequestOptions {
  namespace?: string;
}

export interface ListOptions extends NamespacedOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: "Exact" | "NotOlderThan";
}

export interface WatchOptions extends NamespacedOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Start after this version ("" or absent: synthetic ADDED for everything first). */
  resourceVersion?: string;
  /** Defaults to true. */
  allowWatchBookmarks?: boolean;
  /** Server closes the watch after this long. */
  timeoutSeconds?: number;
}

export interface WriteOptions extends NamespacedOptions {
  fieldManager?: string;
  dryRun?: boolean;
}

export type PatchType = "merge" | "json" | "strategic" | "apply";

export interface PatchOptions extends WriteOptions {
  /** Required for "apply". */
  fieldManager?: string;
  /** Server-side apply: take ownership of conflicting fields. */
  force?: boolean;
  /** Patch the status subresource instead of the main resource. */
  subresource?: "status";
}

export interface JsonPatchOp {
  op: "add" | "remove" | "replace" | "move" | "copy" | "test";
  path: string;
  value?: unknown;
  from?: string;
}

export interface DeleteOptions extends NamespacedOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: "Foreground" | "Background" | "Orphan";
  gracePeriodSeconds?: number;
  dryRun?: boolean;
}

export const PATCH_CONTENT_TYPE: Readonly<Record<PatchType, string>> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
};

/** API path of the group/version, e.g. "/api/v1" or "/apis/apps/v1". */
export function groupVersionPath(group: string, version: string): string {
  return group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
}

/** `apiVersion` string of a descriptor, e.g. "v1" or "apps/v1". */
export function apiVersionOf(desc: Pick<ResourceDescriptor, "group" | "version">): string {
  return desc.group === "" ? desc.version : `${desc.group}/${desc.version}`;
}

/** Path of a collection, object or subresource. */
export function resourcePath(
  desc: ResourceDescriptor,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  let p = groupVersionPath(desc.group, desc.version);
  if (desc.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${desc.plural}`;
  if (name !== undefined) {
    if (name.length === 0) throw new TypeError(`empty ${desc.kind} name`);
    p += `/${encodeURIComponent(name)}`;
    if (subresource) p += `/${subresource}`;
  }
  return p;
}

/** coordination.k8s.io/v1 Lease: the operator's leader election, read by `kleym status`. */
export const LEASE_DESCRIPTOR: ResourceDescriptor = {
  group: "coordination.k8s.io",
  version: "v1",
  plural: "leases",
  kind: "Lease",
  namespaced: true,
};
