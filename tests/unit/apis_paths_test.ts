import { equal } from "node:assert/strict";
import { dirname, isAbsolute, resolve } from "node:path";
import { dirOf, isAbsolutePath, resolvePath } from "../../apis/paths.ts";

// node:path (POSIX) is the oracle: apis/paths.ts replaces it only to keep node: out of the operator.
const PATHS = [
  "/",
  "//",
  "/a",
  "/a/",
  "/a/b/c",
  "/a//b///c/",
  "a",
  "a/",
  "a/b",
  "./a",
  "../a",
  "../../x/y",
  ".",
  "..",
  "/a/./b/../c",
  "a/../../b",
  "/../..",
  "~/kube/config",
  "dir with space/f",
];

Deno.test("kubeconfig path helpers agree with node:path on POSIX paths", async (t) => {
  for (const p of PATHS) {
    await t.step(JSON.stringify(p), () => {
      equal(isAbsolutePath(p), isAbsolute(p), `isAbsolute(${p})`);
      equal(dirOf(p), dirname(p), `dirname(${p})`);
      equal(resolvePath(p), resolve(p), `resolve(${p})`);
      for (const base of ["/etc/kube", "/", "rel/dir", "."]) {
        equal(resolvePath(base, p), resolve(base, p), `resolve(${base}, ${p})`);
      }
    });
  }
});
