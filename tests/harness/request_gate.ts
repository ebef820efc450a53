/**
 * A transport wrapper that holds the requests matching a predicate until released, so a test can
 * make a foreign change land while one of kleym's requests is in flight (docs/testing.md: races
 * are made to happen).
 */
import type { KubeRequest, Transport } from "../../apis/transport.ts";

/** Holds requests matching `match` until `release()`; `held` resolves on the first one. */
export class Gate {
  #match: ((req: KubeRequest) => boolean) | undefined;
  #open = Promise.withResolvers<void>();
  #arrived = Promise.withResolvers<void>();

  wrap = (inner: Transport): Transport => async (req) => {
    if (this.#match?.(req)) {
      this.#arrived.resolve();
      await this.#open.promise;
    }
    return await inner(req);
  };

  hold(match: (req: KubeRequest) => boolean): void {
    this.#match = match;
    this.#open = Promise.withResolvers<void>();
    this.#arrived = Promise.withResolvers<void>();
  }

  get held(): Promise<void> {
    return this.#arrived.promise;
  }

  release(): void {
    this.#match = undefined;
    this.#open.resolve();
  }
}
