/**
 * The fixture examples' expected.yaml (tests/fixtures/examples/<name>/) and the one check that
 * a real cluster holds exactly that: the ClusterSPIFFEIDs (labels and spec) and every binding's
 * finalizers, status fields and conditions. Shared by reconcile_examples_test.ts (test
 * stand-in CRDs) and examples_upstream_test.ts (upstream GAIE CRDs); not a test file itself.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { REPO_ROOT } from "../harness/controlplane.ts";
import { type Clients, conditionOf, getCsid, pollUntil, waitReason } from "./reconcile_helpers.ts";

const EXAMPLES = `${REPO_ROOT}/tests/fixtures/examples`;

export interface Expected {
  clusterSPIFFEIDs: {
    metadata: { name: string; labels: Record<string, string> };
    spec: Record<string, unknown>;
  }[];
  bindings: {
    name: string;
    namespace: string;
    finalizers?: string[];
    status: {
      trustDomain?: string;
      computedSpiffeIDs?: unknown[];
      renderedSelectors?: unknown[];
      conditions: { type: string; status: string; reason: string; message?: string }[];
    };
  }[];
}

export function expected(example: string): Expected {
  return parse(Deno.readTextFileSync(`${EXAMPLES}/${example}/expected.yaml`));
}

export async function assertExpected(
  c: Clients,
  want: Expected,
): Promise<void> {
  for (const csid of want.clusterSPIFFEIDs) {
    const got = await pollUntil(
      `ClusterSPIFFEID ${csid.metadata.name}`,
      60_000,
      () => getCsid(c, csid.metadata.name),
    );
    for (const [k, v] of Object.entries(csid.metadata.labels)) {
      assert.equal(got.metadata.labels?.[k], v, `label ${k} of ${csid.metadata.name}`);
    }
    assert.deepEqual(got.spec, csid.spec, `spec of ${csid.metadata.name}`);
  }
  for (const b of want.bindings) {
    const ready = b.status.conditions.find((x) => x.type === "Ready");
    assert.ok(ready);
    const got = await waitReason(c, b.namespace, b.name, ready.reason);
    if (b.finalizers) assert.deepEqual(got.metadata.finalizers, b.finalizers);
    for (const field of ["trustDomain", "computedSpiffeIDs", "renderedSelectors"] as const) {
      if (b.status[field] !== undefined) {
        assert.deepEqual(got.status?.[field], b.status[field], `${b.name} status.${field}`);
      }
    }
    for (const want of b.status.conditions) {
      const have = conditionOf(got, want.type);
      assert.ok(have, `${b.name} lacks condition ${want.type}`);
      assert.equal(have.status, want.status, `${b.name} ${want.type}.status`);
      assert.equal(have.reason, want.reason, `${b.name} ${want.type}.reason`);
      if (want.message !== undefined) assert.equal(have.message, want.message);
    }
    assert.equal(got.status?.conditions?.length, 5, "every reconcile sets all five conditions");
  }
}
