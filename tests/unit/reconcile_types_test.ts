// The pure core's types must line up with the generated API types the edge holds, so the edge can
// pass cached objects in and write planned objects and status out without casts. `deno test`
// type-checks this file; a drift between the two breaks the build here, not in apply code.

import assert from "node:assert/strict";
import type {
  InferenceIdentityBinding,
  InferenceIdentityBindingStatus,
} from "../../generated/kleym.sonda.red/v1alpha1.ts";
import type { ClusterSPIFFEID as GeneratedClusterSPIFFEID } from "../../generated/spire.spiffe.io/v1alpha1.ts";
import { renderBinding } from "../../reconcile/render.ts";
import { successStatus } from "../../reconcile/status.ts";
import type { BindingInput, ObservedClusterSPIFFEID } from "../../reconcile/types.ts";

Deno.test("generated objects go into the pure core and its outputs fit the generated types", () => {
  const binding: InferenceIdentityBinding = {
    apiVersion: "kleym.sonda.red/v1alpha1",
    kind: "InferenceIdentityBinding",
    metadata: { name: "pool-a", namespace: "default", uid: "u" },
    spec: { poolRef: { name: "pool-a" }, serviceAccountName: "sa", mode: "PoolOnly" },
  };
  const input: BindingInput = binding;
  const outcome = renderBinding(input, {
    pool: {
      apiVersion: "inference.networking.k8s.io/v1",
      object: { spec: { selector: { matchLabels: { app: "x" } } } },
    },
  }, { trustDomain: "td" });
  assert.ok(outcome.ok);
  const written: GeneratedClusterSPIFFEID = outcome.identity.clusterSPIFFEID;
  const observed: ObservedClusterSPIFFEID = written;
  const status: InferenceIdentityBindingStatus = successStatus(
    outcome.identity,
    { trustDomain: "td" },
    [],
    new Date(0),
    1,
  );
  assert.equal(observed.metadata.name, "kleym-default-pool-a-pool-a5c9a0ad");
  assert.equal(status.computedSpiffeIDs?.[0].spiffeID, "spiffe://td/ns/default/pool/pool-a");
});
