// Commit subjects are at most 72 characters (CONTRIBUTING.md), for every commit after the one the
// rule started at. Older history keeps its long subjects: rewriting main's history is not allowed.
//
// Works on a clean clone of any depth: with the base commit present, the commits after it are
// `base..HEAD`; in a shallow clone that lacks it, the commits committed after the base's commit
// time. Outside a git checkout (a source tarball) there is no history to check.
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;
/** The first commit the rule does not apply to, and its committer time (seconds since epoch). */
const BASE = "7f3d27abf445c198d3d3a6f43ad28e9934aa8399";
const BASE_TIME = 1796225344;
const MAX_SUBJECT = 72;

/** The subjects longer than `max` among `git log --format=%H%x00%ct%x00%s` lines after `since`. */
function overlong(log: string, since: number, max = MAX_SUBJECT): string[] {
  return log.split("\n").filter((l) => l !== "").map((l) => l.split("\0"))
    .filter(([, time]) => Number(time) > since)
    .filter(([, , subject]) => [...subject].length > max)
    .map(([hash, , subject]) => `${hash.slice(0, 7)} (${[...subject].length}): ${subject}`);
}

function git(args: string[]): { ok: boolean; out: string } {
  try {
    const r = new Deno.Command("git", { args, cwd: ROOT, stdout: "piped", stderr: "null" })
      .outputSync();
    return { ok: r.success, out: new TextDecoder().decode(r.stdout) };
  } catch {
    return { ok: false, out: "" }; // no git on this machine
  }
}

const inCheckout = git(["rev-parse", "--git-dir"]).ok;

Deno.test({
  name: "commit subjects after the rule's base commit are at most 72 characters",
  ignore: !inCheckout,
  fn() {
    const format = "--format=%H%x00%ct%x00%s";
    const hasBase = git(["cat-file", "-e", `${BASE}^{commit}`]).ok;
    const log = hasBase ? git(["log", format, `${BASE}..HEAD`]) : git(["log", format, "HEAD"]);
    assert.ok(log.ok, "git log failed");
    assert.deepEqual(overlong(log.out, hasBase ? 0 : BASE_TIME), []);
  },
});

Deno.test("a subject over 72 characters is reported, one at 72 is not", () => {
  const at72 = "x".repeat(72);
  const at73 = "y".repeat(73);
  const log = [`aaaaaaa1\0${BASE_TIME + 1}\0${at72}`, `bbbbbbb2\0${BASE_TIME + 2}\0${at73}`].join(
    "\n",
  );
  assert.deepEqual(overlong(log, BASE_TIME), [`bbbbbbb (73): ${at73}`]);
  // Older than the base: not checked (a shallow clone's history before the rule).
  assert.deepEqual(overlong(`ccccccc3\0${BASE_TIME - 1}\0${at73}`, BASE_TIME), []);
});
