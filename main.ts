/**
 * kleym operator entry point: `./kleym-operator --trust-domain=example.org [flags]` from source,
 * or the `deno compile`d `dist/kleym-operator` (`make build`). See `--help` and
 * docs/operations.md.
 */
import { allowEmptyingDefaultRoots } from "./apis/default_roots.ts";
import { Controller } from "./reconcile/controller.ts";
import { operatorMain } from "./operator/entry.ts";

if (import.meta.main) {
  // A configured CA becomes fetch's only trust: the transport empties Deno's default roots before
  // its first client (apis/default_roots.ts).
  allowEmptyingDefaultRoots();
  Deno.exit(await operatorMain(Deno.args, (params) => new Controller(params)));
}
