/**
 * kleym operator entry point: `./kleym-operator --trust-domain=example.org [flags]` from source,
 * or the `deno compile`d `dist/kleym-operator` (`make build`). See `--help` and
 * docs/operations.md.
 */
import { Controller } from "./reconcile/controller.ts";
import { operatorMain } from "./operator/entry.ts";

if (import.meta.main) {
  Deno.exit(await operatorMain(Deno.args, (params) => new Controller(params)));
}
