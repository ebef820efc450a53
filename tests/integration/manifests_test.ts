/**
 * deploy.yaml and crds.yaml (docs/contract.md#deployment) are exactly what `make manifests` renders
 * from config/ with the project's built kubectl (kustomize), and every optional directory of the
 * tree renders. (Needs only the kubectl binary of the test control plane, not a cluster.)
 */
import assert from "node:assert/strict";
import { KUBECTL, REPO_ROOT } from "../harness/controlplane.ts";
import { render } from "../../tools/manifests.ts";

Deno.test("deploy.yaml and crds.yaml equal the kustomize render of config/default and config/crd", async () => {
  const { files } = await render(KUBECTL);
  for (const [path, text] of Object.entries(files)) {
    assert.equal(
      Deno.readTextFileSync(`${REPO_ROOT}/${path}`),
      text,
      `${path} is not current: run make manifests`,
    );
  }
});

Deno.test("every directory of the kustomize tree renders", async (t) => {
  for (
    const dir of ["crd", "rbac", "manager", "default", "prometheus", "network-policy", "samples"]
  ) {
    await t.step(dir, async () => {
      const out = await new Deno.Command(KUBECTL, {
        args: ["kustomize", `${REPO_ROOT}/config/${dir}`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      assert.match(new TextDecoder().decode(out.stdout), /^kind: /m);
    });
  }
});
