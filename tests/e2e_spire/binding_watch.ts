/**
 * Counting the writes one binding receives (not a test file): a watch on exactly that object
 * from a known resourceVersion. The API server delivers every change of it, in order and without
 * folding, so the number of MODIFIED events is the number of writes — a property, not a sample
 * (polling the object could miss a write that a second one overwrote).
 */
import { connect } from "../../apis/connect.ts";
import {
  type InferenceIdentityBinding,
  inferenceIdentityBindingsClient,
} from "../../generated/kleym.sonda.red/v1alpha1.ts";
import type { TestEnv } from "../harness/env.ts";

export interface BindingWrites {
  /** The binding as of the watch's start. */
  readonly initial: InferenceIdentityBinding;
  /** The binding after each write, in order. Throws if the watch ended (counts would lie). */
  writes(): readonly InferenceIdentityBinding[];
  /** The binding as of the newest write seen (or the start). */
  latest(): InferenceIdentityBinding;
  stop(): Promise<void>;
}

export async function watchBinding(
  env: TestEnv,
  namespace: string,
  name: string,
): Promise<BindingWrites> {
  const connection = await connect({ kubeconfig: env.kubeconfigPath, env: () => undefined });
  const client = inferenceIdentityBindingsClient(connection.rest);
  const abort = new AbortController();
  const initial = await client.get(name, { namespace });
  const stream = await client.watch({
    namespace,
    fieldSelector: `metadata.name=${name}`,
    resourceVersion: initial.metadata.resourceVersion,
    allowWatchBookmarks: false,
    signal: abort.signal,
  });
  const seen: InferenceIdentityBinding[] = [];
  let ended: string | undefined;
  const reading = (async () => {
    try {
      for await (const event of stream) {
        if (event.type === "MODIFIED") seen.push(event.object);
        else ended = `watch of ${namespace}/${name} got ${event.type}`;
      }
      ended ??= `watch of ${namespace}/${name} ended`;
    } catch (error) {
      ended ??= `watch of ${namespace}/${name} failed: ${error}`;
    }
  })();
  const writes = () => {
    if (ended !== undefined && !abort.signal.aborted) throw new Error(ended);
    return seen;
  };
  return {
    initial,
    writes,
    latest: () => writes().at(-1) ?? initial,
    async stop() {
      abort.abort();
      await reading;
      connection.close();
    },
  };
}
