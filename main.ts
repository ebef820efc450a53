/**
 * kleym operator entry point: `deno task operator --trust-domain=example.org [flags]` from source,
 * or the `deno compile`d `dist/kleym-operator` (`make build`). See `--help` and
 * docs/operations.md.
 */
import { operatorMain } from "./operator/entry.ts";
import type { OperatorController } from "./operator/run.ts";

// PLACEHOLDER until reconcile/controller.ts lands: the wiring is complete, only the reconciler
// is missing. Replaced by `(p) => new Controller(p)` from ./reconcile/controller.ts.
function newController(): OperatorController {
  throw new Error("the reconciler (reconcile/controller.ts) is not available in this build yet");
}

if (import.meta.main) {
  Deno.exit(await operatorMain(Deno.args, newController));
}
