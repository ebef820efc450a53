/**
 * Shared helpers for the reconcile integration tests (not a test file itself): the Controller
 * running in-process against a real API server, an uncounted admin client for the test's own
 * reads and writes, typed object builders, and polling with a deadline.
 *
 * The controller's client and the test's client are separate connections: the controller's
 * request hook (`RequestCounter`) then counts exactly the operator's requests.
 */
import { buildTransport, connect, loadConnection } from "../../apis/connect.ts";
import { ApiError } from "../../apis/errors.ts";
import { apiEventWriter } from "../../apis/event_writer.ts";
import { EventRecorder } from "../../apis/events.ts";
import { RequestCounter } from "../../apis/hooks.ts";
import { type KubeObject, ResourceClient, RestClient } from "../../apis/rest.ts";
import type { Transport } from "../../apis/transport.ts";
import * as gaieV1 from "../../generated/inference.networking.k8s.io/v1.ts";
import * as gaieV1alpha2 from "../../generated/inference.networking.x-k8s.io/v1alpha2.ts";
import {
  type InferenceIdentityBinding,
  inferenceIdentityBindingsClient,
} from "../../generated/kleym.sonda.red/v1alpha1.ts";
import {
  type ClusterSPIFFEID,
  clusterSPIFFEIDsClient,
} from "../../generated/spire.spiffe.io/v1alpha1.ts";
import { Logger } from "../../observe/log.ts";
import { Metrics } from "../../observe/metrics.ts";
import { type EventObject, eventsClient } from "../../reconcile/apply.ts";
import { Controller, type ControllerOptions } from "../../reconcile/controller.ts";
import {
  bindingManifest,
  objectiveManifest,
  poolV1alpha2Manifest,
  poolV1Manifest,
} from "../harness/manifests.ts";
import { pollUntil } from "../harness/poll.ts";
import {
  type Activity,
  activityFromMetrics,
  type TrackedTransport,
  trackTransport,
} from "../harness/settle.ts";
export { pollUntil };

export const TRUST_DOMAIN = "kleym.sonda.red";
export const FINALIZER = "kleym.sonda.red/inferenceidentitybinding-finalizer";

/** The test's own (uncounted) clients. */
export interface Clients {
  rest: RestClient;
  bindings: ResourceClient<InferenceIdentityBinding>;
  csids: ResourceClient<ClusterSPIFFEID>;
  events: ResourceClient<EventObject>;
  poolsV1: ResourceClient<gaieV1.InferencePool>;
  poolsV1alpha2: ResourceClient<gaieV1alpha2.InferencePool>;
  objectivesV1: ResourceClient<gaieV1.InferenceObjective>;
  objectivesV1alpha2: ResourceClient<gaieV1alpha2.InferenceObjective>;
  close(): void;
}

export async function adminClients(kubeconfig: string): Promise<Clients> {
  const c = await connect({ kubeconfig, env: () => undefined });
  return {
    rest: c.rest,
    bindings: inferenceIdentityBindingsClient(c.rest),
    csids: clusterSPIFFEIDsClient(c.rest),
    events: eventsClient(c.rest),
    poolsV1: gaieV1.inferencePoolsClient(c.rest),
    poolsV1alpha2: gaieV1alpha2.inferencePoolsClient(c.rest),
    objectivesV1: gaieV1.inferenceObjectivesClient(c.rest),
    objectivesV1alpha2: gaieV1alpha2.inferenceObjectivesClient(c.rest),
    close: c.close,
  };
}

export interface RunningController {
  controller: Controller;
  metrics: Metrics;
  requests: RequestCounter;
  logs: Record<string, unknown>[];
  /** The controller's event recorder (writes through the controller's counted connection). */
  recorder: EventRecorder;
  /** Writes (create/update/patch/delete) the controller made, by resource. */
  writes(): number;
  /** The controller's transport: write requests in flight, injected delays. */
  transport: TrackedTransport;
  /** Queue depth/in-flight (the gauges), writes in flight and made: for `waitSettled`. */
  activity(): Activity;
  stop(): Promise<void>;
}

export interface StartOptions {
  trustDomain?: string;
  className?: string;
  crdRetryMs?: number;
  concurrency?: number;
  /** Print the controller's log lines (debugging). */
  verbose?: boolean;
  /** Periodic resync of every binding (docs/contract.md#lifecycle `--sync-period`). */
  syncPeriodMs?: number;
  /** Wraps the controller's transport (outermost), e.g. to lose a watch event on purpose. */
  transport?: (inner: Transport) => Transport;
  /** The informers' watch idle limit (apis/idle.ts). */
  watchIdleMs?: number;
}

/** Starts a Controller in-process, waits for its caches, runs its work loop. */
export async function startController(
  kubeconfig: string,
  opts: StartOptions = {},
): Promise<RunningController> {
  const requests = new RequestCounter();
  const built = buildTransport(await loadConnection({ kubeconfig, env: () => undefined }), {
    onRequest: requests.onRequest,
  });
  // The test's own wrapper (e.g. a lost watch event) inside, the write tracker outermost.
  const transport = trackTransport(
    opts.transport ? opts.transport(built.transport) : built.transport,
  );
  const rest = new RestClient(transport.transport);
  const metrics = new Metrics();
  const logs: Record<string, unknown>[] = [];
  const verbose = opts.verbose ?? Deno.env.get("KLEYM_TEST_VERBOSE") === "1";
  const logger = new Logger({
    level: "debug",
    sink: (line) => {
      logs.push(JSON.parse(line));
      if (verbose) console.error(line);
    },
  });
  const recorder = new EventRecorder({
    writer: apiEventWriter(rest),
    reportingController: "kleym.sonda.red/kleym",
    reportingInstance: "integration-test",
    observer: metrics.eventObserver(),
    onError: (error) => logger.warn("could not record event", { error }),
  });
  const options: ControllerOptions = {
    rest,
    trustDomain: opts.trustDomain ?? TRUST_DOMAIN,
    className: opts.className,
    logger,
    metrics,
    concurrency: opts.concurrency,
    crdRetryMs: opts.crdRetryMs,
    events: recorder,
    syncPeriodMs: opts.syncPeriodMs,
    watchIdleMs: opts.watchIdleMs,
  };
  const controller = new Controller(options);
  const caches = new AbortController();
  const work = new AbortController();
  const eventsLoop = new AbortController();
  const recording = recorder.run(eventsLoop.signal);
  await controller.startCaches(caches.signal);
  const running = controller.run(work.signal);
  const writes = () =>
    ["create", "update", "patch", "delete", "deletecollection"]
      .map((verb) => requests.count({ verb: verb as "create" }))
      .reduce((a, b) => a + b, 0);
  return {
    controller,
    metrics,
    requests,
    logs,
    recorder,
    writes,
    transport,
    // The gauges as /metrics exports them (queue idle, no event buffered in the recorder);
    // writes from the controller's own request hook.
    activity: () => ({
      ...activityFromMetrics(metrics.expose()),
      pending: transport.writesInFlight() + (recorder.idle ? 0 : 1) +
        (controller.idle() ? 0 : 1),
      writes: writes(),
    }),
    async stop() {
      work.abort();
      await running;
      await recorder.flush(2_000);
      eventsLoop.abort();
      await recording;
      caches.abort();
      built.close();
    },
  };
}

// ---- object builders -----------------------------------------------------------------------

export interface BindingSpecInput {
  poolRef: { name: string; group?: string };
  objectiveRef?: { name: string; group?: string };
  serviceAccountName?: string;
  mode?: string;
  containerName?: string;
}

/** A binding with `serviceAccountName: inference-sa` unless given (tests/harness/manifests.ts). */
export function binding(
  ns: string,
  name: string,
  spec: BindingSpecInput,
): InferenceIdentityBinding {
  // tests write shapes the CRD types forbid on purpose: the wire shape, typed for the clients
  return bindingManifest(ns, name, {
    serviceAccountName: "inference-sa",
    ...spec,
  }) as unknown as InferenceIdentityBinding;
}

export function poolV1(ns: string, name: string, labels: Record<string, string>) {
  return poolV1Manifest(ns, name, { matchLabels: labels });
}

export function poolV1alpha2(ns: string, name: string, selector: Record<string, string>) {
  return poolV1alpha2Manifest(ns, name, selector);
}

export const objective = objectiveManifest;

/**
 * kubectl apply of typed objects (server-side, field manager "kubectl": re-applying an object
 * without a field removes it). Sent as a JSON List: YAML would turn names like `y` into booleans.
 */
export async function apply(
  kubectl: (args: string[], opts?: { stdin?: string }) => Promise<string>,
  ...objects: unknown[]
): Promise<void> {
  await kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], {
    stdin: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  });
}

// ---- reading -------------------------------------------------------------------------------

export interface ConditionView {
  status: string;
  reason: string;
  message: string;
}

export function conditionOf(
  b: InferenceIdentityBinding | undefined,
  type: string,
): ConditionView | undefined {
  const c = b?.status?.conditions?.find((x) => x.type === type);
  return c === undefined ? undefined : { status: c.status, reason: c.reason, message: c.message };
}

export async function getBinding(
  c: Clients,
  ns: string,
  name: string,
): Promise<InferenceIdentityBinding | undefined> {
  try {
    return await c.bindings.get(name, { namespace: ns });
  } catch (error) {
    if (error instanceof ApiError && error.isNotFound()) return undefined;
    throw error;
  }
}

/** Polls until the binding's Ready condition has `reason`; returns the binding. */
export async function waitReason(
  c: Clients,
  ns: string,
  name: string,
  reason: string,
  deadlineMs = 60_000,
): Promise<InferenceIdentityBinding> {
  let last: InferenceIdentityBinding | undefined;
  try {
    return await pollUntil(`${ns}/${name} Ready reason ${reason}`, deadlineMs, async () => {
      last = await getBinding(c, ns, name);
      return conditionOf(last, "Ready")?.reason === reason ? last : undefined;
    });
  } catch (error) {
    throw new Error(`${error}; last status: ${JSON.stringify(last?.status?.conditions?.[0])}`);
  }
}

export async function getCsid(c: Clients, name: string): Promise<ClusterSPIFFEID | undefined> {
  try {
    return await c.csids.get(name);
  } catch (error) {
    if (error instanceof ApiError && error.isNotFound()) return undefined;
    throw error;
  }
}

/** Managed ClusterSPIFFEIDs of one binding (or of the whole namespace). */
export async function managedOf(
  c: Clients,
  ns: string,
  name?: string,
): Promise<ClusterSPIFFEID[]> {
  const selector = [
    "kleym.sonda.red/managed-by=kleym",
    `kleym.sonda.red/binding-namespace=${ns}`,
    ...(name === undefined ? [] : [`kleym.sonda.red/binding-name=${name}`]),
  ].join(",");
  try {
    return (await c.csids.list({ labelSelector: selector })).items;
  } catch (error) {
    if (error instanceof ApiError && error.isNotFound()) return [];
    throw error;
  }
}

/** events.k8s.io/v1 events about one binding, oldest first. */
export async function eventsOf(c: Clients, ns: string, name: string): Promise<EventObject[]> {
  const list = await c.events.list({ namespace: ns });
  return list.items.filter((e) => e.regarding?.name === name)
    .sort((a, b) => String(a.eventTime).localeCompare(String(b.eventTime)));
}

export async function deleteIfExists<T extends KubeObject>(
  client: ResourceClient<T>,
  name: string,
  namespace?: string,
): Promise<void> {
  try {
    await client.delete(name, { namespace });
  } catch (error) {
    if (!(error instanceof ApiError && error.isNotFound())) throw error;
  }
}

/** Polls until the object is gone (404). */
export async function waitGone<T extends KubeObject>(
  client: ResourceClient<T>,
  name: string,
  namespace?: string,
  deadlineMs = 60_000,
): Promise<void> {
  await pollUntil(`${client.desc.kind} ${namespace ?? ""}/${name} gone`, deadlineMs, async () => {
    try {
      await client.get(name, { namespace });
      return false;
    } catch (error) {
      if (error instanceof ApiError && error.isNotFound()) return true;
      throw error;
    }
  });
}
