/**
 * The fast foreign writer (docs/testing.md, "Racing the operator on purpose"): a second client that
 * watches managed ClusterSPIFFEIDs and writes to each one the moment its watch event arrives —
 * milliseconds after kleym's own write, usually before kleym's informer has delivered that write
 * back to kleym. It is the actor that exposed the read-your-writes bug (a binding left Ready=True
 * with no ClusterSPIFFEID), so it is a fault kind of the resilience suite and the driver of
 * tests/integration/reconcile_foreign_writer_test.ts.
 *
 *   - `delete`: deletes every object whose ADDED event arrives (each (re)creation by kleym).
 *   - `edit`: on every ADDED/MODIFIED, overwrites kleym's fields (the SPIFFE ID template and the
 *     pod selector) unless the object already carries the foreign values (its own write's echo).
 *
 * Objects in its initial list count as ADDED too, so a burst against a settled cluster starts a
 * fight at once (kleym repairs, the writer strikes again on that event) instead of waiting for
 * kleym's next write. Its watch goes straight to the API server on its own connection; its writes are unconditional (a real foreign writer does not
 * care about resourceVersions). `stop` stops acting at once and awaits every write in flight, so
 * the caller's convergence clock starts after the writer's last write has landed.
 */
import { ApiError } from "../../apis/errors.ts";
import type { KubeObject, ResourceClient } from "../../apis/rest.ts";
import { Informer } from "../../apis/watch.ts";

export type FastWriterMode = "delete" | "edit";

/** What the edit mode writes over kleym's fields. */
export const FOREIGN_SPIFFE_ID = "spiffe://foreign.example/fast-writer";
const FOREIGN_EDIT = {
  spec: {
    spiffeIDTemplate: FOREIGN_SPIFFE_ID,
    podSelector: { matchLabels: { "foreign.example/fast-writer": "yes" } },
  },
};

export interface FastWriterOptions {
  mode: FastWriterMode;
  /** Extra label selector terms, e.g. `kleym.sonda.red/binding-namespace=<ns>`. */
  selector?: string;
}

export class FastForeignWriter<T extends KubeObject> {
  readonly #client: ResourceClient<T>;
  readonly #mode: FastWriterMode;
  readonly #informer: Informer<T>;
  readonly #abort = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  /** `<binding-namespace>/<binding-name>` -> successful writes against its objects. */
  readonly #byOwner = new Map<string, number>();
  #armed = true;
  #run: Promise<void> | undefined;
  #writes = 0;
  #failures = 0;
  /** Per successful write: ms from its watch event's arrival to the API server's answer. */
  readonly #reactionMs: number[] = [];

  constructor(client: ResourceClient<T>, opts: FastWriterOptions) {
    this.#client = client;
    this.#mode = opts.mode;
    const selector = ["kleym.sonda.red/managed-by=kleym", ...(opts.selector ? [opts.selector] : [])]
      .join(",");
    this.#informer = new Informer<T>(client, {
      labelSelector: selector,
      backoffBaseMs: 50,
      backoffMaxMs: 1_000,
    });
    this.#informer.addHandler({
      onAdd: (o) => this.#event(o, true),
      onUpdate: (_old, o) => this.#event(o, false),
    });
  }

  /** Starts watching; resolves once the initial list is in (and acted on). */
  async start(): Promise<void> {
    this.#run = this.#informer.run(this.#abort.signal);
    await this.#informer.waitForSync(this.#abort.signal);
  }

  /** Stops acting, ends the watch and waits for every write already sent. */
  async stop(): Promise<void> {
    this.#armed = false;
    this.#abort.abort();
    await this.#run;
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /** Successful writes (deletes or edits). */
  get writes(): number {
    return this.#writes;
  }

  /** Writes that failed for another reason than "already gone" (API server restarts, ...). */
  get failures(): number {
    return this.#failures;
  }

  /** Median and maximum ms from a watch event's arrival to the answer of the write it caused. */
  reaction(): { medianMs: number; maxMs: number } | undefined {
    if (this.#reactionMs.length === 0) return undefined;
    const sorted = [...this.#reactionMs].sort((a, b) => a - b);
    return { medianMs: sorted[Math.floor(sorted.length / 2)], maxMs: sorted[sorted.length - 1] };
  }

  /** Successful writes against the objects of one binding (`<namespace>/<name>`). */
  actedOn(owner: string): number {
    return this.#byOwner.get(owner) ?? 0;
  }

  #event(object: T, added: boolean): void {
    if (!this.#armed) return;
    if (this.#mode === "delete" && !added) return;
    if (this.#mode === "edit" && editedAlready(object)) return;
    const write = this.#write(object, performance.now()).finally(() =>
      this.#inFlight.delete(write)
    );
    this.#inFlight.add(write);
  }

  async #write(object: T, arrived: number): Promise<void> {
    const name = object.metadata.name ?? "";
    try {
      if (this.#mode === "delete") await this.#client.delete(name);
      else await this.#client.patch(name, "merge", FOREIGN_EDIT);
      this.#writes++;
      this.#reactionMs.push(performance.now() - arrived);
      const labels = object.metadata.labels ?? {};
      const owner = `${labels["kleym.sonda.red/binding-namespace"]}/${
        labels["kleym.sonda.red/binding-name"]
      }`;
      this.#byOwner.set(owner, (this.#byOwner.get(owner) ?? 0) + 1);
    } catch (error) {
      if (!(error instanceof ApiError && error.isNotFound())) this.#failures++;
    }
  }
}

function editedAlready(object: KubeObject): boolean {
  const spec = (object as { spec?: { spiffeIDTemplate?: unknown } }).spec;
  return spec?.spiffeIDTemplate === FOREIGN_SPIFFE_ID;
}
