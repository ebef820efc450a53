/**
 * `make manifests`: renders the install manifests from the kustomize tree in `config/`
 * (docs/operations.md):
 *
 *   deploy.yaml = kubectl kustomize config/default   (CRD, namespace, RBAC, Deployment, PDB, Service)
 *   crds.yaml   = kubectl kustomize config/crd       (the CRD alone)
 *
 * The image tag comes from the one version source, `VERSION` in apis/version.ts: it is written
 * into config/manager/kustomization.yaml (`newTag`) before rendering. The kubectl is the project's
 * built one (`.cache/testenv/bin/kubectl`, which has kustomize built in), so the output does not
 * depend on whichever kubectl is on PATH.
 *
 * Both files are the kustomize output byte for byte (no header: kustomize drops comments, and the
 * acceptance is equality with `kubectl kustomize`); that they are generated is said in
 * config/default/kustomization.yaml, the README and docs/operations.md.
 *
 * `--check` writes nothing and exits 1 naming every file that is not current.
 * tests/integration/manifests_test.ts runs `render()` and compares with the committed files.
 *
 * Permissions: --allow-read=. --allow-write=deploy.yaml,crds.yaml,config/manager
 * --allow-run (kubectl)
 */
import { VERSION } from "../apis/version.ts";
import { scanFlags, valueOf } from "../flags/parse.ts";
import { boolFlag } from "../flags/values.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
export const KUSTOMIZATION = "config/manager/kustomization.yaml";

export interface Rendered {
  /** Repository-relative path -> content. */
  files: Record<string, string>;
}

/** config/manager/kustomization.yaml with `newTag` set to `version`. */
export function withImageTag(kustomization: string, version: string): string {
  const out = kustomization.replace(/^(\s*newTag:\s*).*$/m, `$1${version}`);
  if (!/^\s*newTag:/m.test(out)) throw new Error(`${KUSTOMIZATION} has no images[].newTag`);
  return out;
}

async function kustomize(kubectl: string, dir: string): Promise<string> {
  const out = await new Deno.Command(kubectl, {
    args: ["kustomize", `${ROOT}/${dir}`],
    stdout: "piped",
    stderr: "piped",
  }).output().catch((err) => {
    throw new Error(`cannot run ${kubectl} (make controlplane builds it): ${err}`);
  });
  if (!out.success) {
    throw new Error(`kubectl kustomize ${dir} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

export function defaultKubectl(): string {
  return `${ROOT}/.cache/testenv/bin/kubectl`;
}

/**
 * What the manifests must be. Rendering reads the kustomization as it is on disk, so the image
 * tag is checked separately (the kustomization must already carry VERSION).
 */
export async function render(kubectl = defaultKubectl()): Promise<Rendered> {
  return {
    files: {
      "deploy.yaml": await kustomize(kubectl, "config/default"),
      "crds.yaml": await kustomize(kubectl, "config/crd"),
    },
  };
}

const CHECK = boolFlag({
  name: "check",
  help: "fail if the files are not current",
  default: false,
});

async function main(args: string[]): Promise<number> {
  const check = valueOf(CHECK, scanFlags([CHECK], args).flags);
  const kustomizationPath = `${ROOT}/${KUSTOMIZATION}`;
  const current = await Deno.readTextFile(kustomizationPath);
  const tagged = withImageTag(current, VERSION);
  const stale: string[] = [];
  if (tagged !== current) {
    if (check) stale.push(KUSTOMIZATION);
    else await Deno.writeTextFile(kustomizationPath, tagged);
  }
  const { files } = await render();
  for (const [path, text] of Object.entries(files)) {
    const old = await Deno.readTextFile(`${ROOT}/${path}`).catch(() => "");
    if (old === text) continue;
    if (check) stale.push(path);
    else await Deno.writeTextFile(`${ROOT}/${path}`, text);
    if (!check) console.log(`manifests: wrote ${path}`);
  }
  if (stale.length > 0) {
    console.error(`not current (run make manifests): ${stale.join(", ")}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
