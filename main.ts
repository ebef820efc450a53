/**
 * kleym operator entry point: `./kleym-operator --trust-domain=example.org [flags]` from source,
 * or the `deno compile`d `dist/kleym-operator` (`make build`). See `--help` and
 * docs/operations.md.
 */
import { emptyDefaultRoots } from "./apis/default_roots.ts";
import { Controller } from "./reconcile/controller.ts";
import { operatorMain } from "./operator/entry.ts";

if (import.meta.main) {
  // Before any connection: the configured CA becomes fetch's only trust (apis/default_roots.ts).
  emptyDefaultRoots();
  Deno.exit(await operatorMain(Deno.args, (params) => new Controller(params)));
}
