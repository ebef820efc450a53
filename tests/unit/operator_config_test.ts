import assert from "node:assert/strict";
import {
  type Env,
  helpText,
  type OperatorConfig,
  parseConfig,
  TRUST_DOMAIN_MISSING,
} from "../../operator/config.ts";
import { DEFAULT_SVID_LIMITS } from "../../reconcile/svid_limits.ts";
import { parseBindAddress, parseDuration } from "../../flags/values.ts";

const noEnv: Env = () => undefined;
const envOf = (vars: Record<string, string>): Env => (n) => vars[n];

function config(args: string[], env: Env = noEnv, inClusterNamespace?: string): OperatorConfig {
  const r = parseConfig(args, env, { inClusterNamespace });
  if (r.kind !== "run") throw new Error(`expected a config, got ${JSON.stringify(r)}`);
  return r.config;
}

function usage(args: string[], env: Env = noEnv): string {
  const r = parseConfig(args, env);
  if (r.kind !== "usage") throw new Error(`expected a usage error, got ${JSON.stringify(r)}`);
  return r.message;
}

Deno.test("defaults apply when only the trust domain is given", () => {
  assert.deepEqual(config(["--trust-domain=example.org"]), {
    trustDomain: "example.org",
    className: undefined,
    kubeconfig: undefined,
    context: undefined,
    // From source only loopback listens (deploy.yaml passes ":8443" and ":8081").
    metricsAddress: { text: "127.0.0.1:8443", hostname: "127.0.0.1", port: 8443 },
    healthAddress: { text: "127.0.0.1:8081", hostname: "127.0.0.1", port: 8081 },
    leaderElection: {
      enabled: false,
      namespace: "kleym-system",
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    },
    logLevel: "info",
    identityOverlap: "warn",
    concurrency: 4,
    syncPeriodMs: 600_000,
    spireStatsIntervalMs: 10_000,
    kubeApiQps: 200,
    kubeApiBurst: 400,
    startupTimeoutMs: 60_000,
    metricsSecure: true,
    metricsCert: undefined,
    svidLimits: DEFAULT_SVID_LIMITS,
  });
});

Deno.test("every flag is accepted in both --flag=value and --flag value form", () => {
  const values: [string, string][] = [
    ["trust-domain", "td.example"],
    ["clusterspiffeid-class-name", "spire-a"],
    ["kubeconfig", "/tmp/kc"],
    ["context", "ctx"],
    ["metrics-bind-address", "127.0.0.1:9090"],
    ["health-probe-bind-address", "[::1]:9091"],
    ["leader-elect-namespace", "ops"],
    ["leader-elect-lease-duration", "20s"],
    ["leader-elect-renew-deadline", "12s"],
    ["leader-elect-retry-period", "500ms"],
    ["log-level", "debug"],
    ["max-concurrent-reconciles", "9"],
    ["kube-api-qps", "12.5"],
    ["kube-api-burst", "30"],
    ["sync-period", "1m30s"],
    ["spire-stats-interval", "3s"],
    ["startup-timeout", "1m30s"],
    ["metrics-cert-dir", "/certs"],
    ["metrics-cert-name", "c.pem"],
    ["metrics-key-name", "k.pem"],
    ["identity-overlap", "refuse"],
    ["max-svid-ttl", "1h30m"],
    ["cluster-domain", "corp.internal"],
    ["allowed-dns-suffixes", "a.example,b.example"],
    ["allowed-federated-trust-domains", "peer.example"],
  ];
  const joined = values.map(([k, v]) => `--${k}=${v}`);
  const split = values.flatMap(([k, v]) => [`--${k}`, v]);
  const expected: OperatorConfig = {
    trustDomain: "td.example",
    className: "spire-a",
    kubeconfig: "/tmp/kc",
    context: "ctx",
    metricsAddress: { text: "127.0.0.1:9090", hostname: "127.0.0.1", port: 9090 },
    healthAddress: { text: "[::1]:9091", hostname: "::1", port: 9091 },
    leaderElection: {
      enabled: true,
      namespace: "ops",
      leaseDurationMs: 20_000,
      renewDeadlineMs: 12_000,
      retryPeriodMs: 500,
    },
    logLevel: "debug",
    identityOverlap: "refuse",
    concurrency: 9,
    syncPeriodMs: 90_000,
    spireStatsIntervalMs: 3_000,
    kubeApiQps: 12.5,
    kubeApiBurst: 30,
    startupTimeoutMs: 90_000,
    metricsSecure: true,
    metricsCert: { dir: "/certs", certName: "c.pem", keyName: "k.pem" },
    svidLimits: {
      maxTtlSeconds: 5400,
      clusterDomain: "corp.internal",
      allowedDnsSuffixes: ["a.example", "b.example"],
      allowedFederatedTrustDomains: ["peer.example"],
    },
  };
  assert.deepEqual(config([...joined, "--leader-elect"]), expected);
  assert.deepEqual(config([...split, "--leader-elect=true"]), expected);
});

Deno.test("boolean --leader-elect forms", async (t) => {
  const cases: [string[], boolean][] = [
    [[], false],
    [["--leader-elect"], true],
    [["--leader-elect=true"], true],
    [["--leader-elect=1"], true],
    [["--leader-elect=false"], false],
    [["--leader-elect=0"], false],
  ];
  for (const [args, enabled] of cases) {
    await t.step(`${JSON.stringify(args)}`, () => {
      assert.equal(
        config(["--trust-domain=a", ...args]).leaderElection.enabled,
        enabled,
        args.join(" "),
      );
    });
  }
});

Deno.test("environment fallbacks, and the flag wins even when explicitly empty", () => {
  const env = envOf({
    KLEYM_TRUST_DOMAIN: "env.example",
    KLEYM_CLUSTERSPIFFEID_CLASS_NAME: "env-class",
  });
  const fromEnv = config([], env);
  assert.equal(fromEnv.trustDomain, "env.example");
  assert.equal(fromEnv.className, "env-class");

  const flagWins = config(["--trust-domain=flag.example", "--clusterspiffeid-class-name=x"], env);
  assert.equal(flagWins.trustDomain, "flag.example");
  assert.equal(flagWins.className, "x");

  assert.equal(config(["--clusterspiffeid-class-name="], env).className, undefined);
  assert.equal(usage(["--trust-domain="], env), TRUST_DOMAIN_MISSING);
});

Deno.test("the lease namespace defaults to the pod's namespace, then kleym-system", () => {
  assert.equal(config(["--trust-domain=a"], noEnv, "ops\n").leaderElection.namespace, "ops");
  assert.equal(config(["--trust-domain=a"], noEnv, "").leaderElection.namespace, "kleym-system");
  assert.equal(
    config(["--trust-domain=a", "--leader-elect-namespace=x"], noEnv, "ops").leaderElection
      .namespace,
    "x",
  );
});

Deno.test("bad flags and values each give one precise line", () => {
  const td = "--trust-domain=example.org";
  const cases: { args: string[]; env?: Record<string, string>; message: string }[] = [
    { args: [], message: TRUST_DOMAIN_MISSING },
    { args: ["--trust-domain="], message: TRUST_DOMAIN_MISSING },
    { args: [], env: { KLEYM_TRUST_DOMAIN: "" }, message: TRUST_DOMAIN_MISSING },
    {
      args: ["--trust-domain=Example.org"],
      message:
        '--trust-domain="Example.org": trust domain may contain only lowercase letters, digits, ".", "-" and "_" (found "E")',
    },
    {
      args: ["--trust-domain=spiffe://example.org"],
      message:
        '--trust-domain="spiffe://example.org": trust domain must be the bare name, without "spiffe://"',
    },
    {
      args: ["--trust-domain=example.org/ns"],
      message: '--trust-domain="example.org/ns": trust domain must not contain "/"',
    },
    {
      args: [],
      env: { KLEYM_TRUST_DOMAIN: " example.org" },
      message:
        'KLEYM_TRUST_DOMAIN=" example.org": trust domain must not have leading or trailing whitespace',
    },
    {
      args: ["--trust-domain=exa mple"],
      message:
        '--trust-domain="exa mple": trust domain may contain only lowercase letters, digits, ".", "-" and "_" (found " ")',
    },
    {
      args: [td, "--clusterspiffeid-class-name= x"],
      message:
        '--clusterspiffeid-class-name=" x": class name must not have surrounding whitespace or control characters',
    },
    { args: [td, "--frobnicate"], message: "unknown flag --frobnicate (see --help)" },
    {
      args: [td, "-v"],
      message: 'unknown flag "-v": flags start with "--" (see --help)',
    },
    {
      args: [td, "extra"],
      message: 'unexpected argument "extra": kleym-operator takes only flags',
    },
    { args: [td, td], message: "--trust-domain is given more than once" },
    { args: ["--trust-domain"], message: "--trust-domain needs a value (--trust-domain=name)" },
    {
      args: ["--kubeconfig", "--trust-domain=a"],
      message: "--kubeconfig needs a value (--kubeconfig=path)",
    },
    { args: [td, "--leader-elect=yes"], message: "--leader-elect=yes: expected true or false" },
    {
      args: [td, "--log-level=verbose"],
      message: '--log-level="verbose": expected one of debug, info, warn, error',
    },
    {
      args: [td, "--max-concurrent-reconciles=0"],
      message: '--max-concurrent-reconciles="0": expected a whole number from 1 to 256',
    },
    {
      args: [td, "--max-concurrent-reconciles=two"],
      message: '--max-concurrent-reconciles="two": expected a whole number from 1 to 256',
    },
    {
      args: [td, "--kube-api-qps=fast"],
      message:
        '--kube-api-qps="fast": expected a number of requests per second, or 0 or -1 for no client-side limit',
    },
    {
      args: [td, "--kube-api-qps=-5"],
      message:
        '--kube-api-qps="-5": expected a number of requests per second, or 0 or -1 for no client-side limit',
    },
    {
      args: [td, "--kube-api-burst=0"],
      message: '--kube-api-burst="0": expected a whole number of at least 1',
    },
    {
      args: [td, "--metrics-bind-address=8080"],
      message: '--metrics-bind-address="8080": expected [host]:port, :port or 0 to disable',
    },
    {
      args: [td, "--health-probe-bind-address=:99999"],
      message: '--health-probe-bind-address=":99999": port 99999 is out of range',
    },
    {
      args: [td, "--leader-elect-lease-duration=15"],
      message: '--leader-elect-lease-duration="15": expected a duration such as 15s, 500ms or 1m',
    },
    {
      args: [td, "--startup-timeout=60"],
      message: '--startup-timeout="60": expected a duration such as 15s, 500ms or 1m',
    },
    {
      args: [td, "--leader-elect-retry-period=0s"],
      message: "--leader-elect-retry-period=0s: must be greater than zero",
    },
    {
      args: [td, "--leader-elect-lease-duration=15500ms"],
      message:
        "--leader-elect-lease-duration=15500ms: must be a whole number of seconds (Lease spec.leaseDurationSeconds)",
    },
    {
      args: [td, "--leader-elect-renew-deadline=15s"],
      message:
        "--leader-elect-renew-deadline (15s) must be shorter than --leader-elect-lease-duration (15s)",
    },
    {
      args: [td, "--leader-elect-retry-period=10s"],
      message:
        "--leader-elect-retry-period (10s) must be shorter than --leader-elect-renew-deadline (10s)",
    },
    {
      args: [td, "--leader-elect-namespace="],
      message: "--leader-elect-namespace must not be empty",
    },
    {
      args: [td, "--leader-elect-namespace=Ops"],
      message: '--leader-elect-namespace="Ops": not a valid namespace name',
    },
  ];
  for (const c of cases) {
    const message = usage(c.args, c.env ? envOf(c.env) : noEnv);
    assert.equal(message, c.message, `args ${JSON.stringify(c.args)} env ${JSON.stringify(c.env)}`);
    assert.ok(!message.includes("\n"), "one line");
  }
});

Deno.test("--help wins over everything else and lists every flag", () => {
  const r = parseConfig(["--bogus", "--help"], noEnv);
  assert.equal(r.kind, "help");
  const text = helpText();
  for (
    const flag of [
      "trust-domain",
      "clusterspiffeid-class-name",
      "kubeconfig",
      "context",
      "metrics-bind-address",
      "health-probe-bind-address",
      "leader-elect",
      "leader-elect-namespace",
      "leader-elect-lease-duration",
      "leader-elect-renew-deadline",
      "leader-elect-retry-period",
      "log-level",
      "max-concurrent-reconciles",
      "kube-api-qps",
      "kube-api-burst",
      "startup-timeout",
      "help",
      "version",
    ]
  ) {
    assert.match(text, new RegExp(`^  --${flag}( |$)`, "m"), flag);
  }
  assert.match(text, /KLEYM_TRUST_DOMAIN/);
  assert.match(text, /KLEYM_CLUSTERSPIFFEID_CLASS_NAME/);
});

Deno.test("--kube-api-qps 0 or -1 turns the client-side limit off", () => {
  for (const v of ["0", "-1"]) {
    assert.equal(config(["--trust-domain=a", `--kube-api-qps=${v}`]).kubeApiQps, 0, v);
  }
});

Deno.test("--version needs no trust domain", () => {
  assert.deepEqual(parseConfig(["--version"], noEnv), { kind: "version" });
});

Deno.test("bind addresses: 0 disables, empty host listens everywhere, port 0 is ephemeral", async (t) => {
  const cases: [string, ReturnType<typeof parseBindAddress>][] = [
    ["0", undefined],
    [":8080", { text: ":8080", hostname: "", port: 8080 }],
    ["127.0.0.1:0", { text: "127.0.0.1:0", hostname: "127.0.0.1", port: 0 }],
    ["localhost:1", { text: "localhost:1", hostname: "localhost", port: 1 }],
    ["[::]:9", { text: "[::]:9", hostname: "::", port: 9 }],
  ];
  for (const [text, want] of cases) {
    await t.step(`${JSON.stringify(text)}`, () => {
      assert.deepEqual(parseBindAddress(text, "--x"), want, text);
    });
  }
  assert.equal(config(["--trust-domain=a", "--metrics-bind-address=0"]).metricsAddress, undefined);
});

Deno.test("Go-style durations", async (t) => {
  const cases: [string, number | undefined][] = [
    ["15s", 15_000],
    ["500ms", 500],
    ["1m30s", 90_000],
    ["1.5s", 1_500],
    ["2h", 7_200_000],
    ["15", undefined],
    ["s", undefined],
    ["-1s", undefined],
    ["1d", undefined],
  ];
  for (const [text, ms] of cases) {
    await t.step(`${JSON.stringify(text)}`, () => {
      assert.equal(parseDuration(text), ms, text);
    });
  }
});

Deno.test("--sync-period takes a Go duration of at least one second", async (t) => {
  const cases: [string, string][] = [
    ["--sync-period=10", '--sync-period="10": expected a duration such as 15s, 500ms or 1m'],
    ["--sync-period=0s", "--sync-period=0s: must be greater than zero"],
    ["--sync-period=500ms", "--sync-period=500ms: must be at least 1s"],
  ];
  for (const [arg, message] of cases) {
    await t.step(arg, () => {
      assert.deepEqual(parseConfig(["--trust-domain=a", arg], () => undefined), {
        kind: "usage",
        message,
      });
    });
  }
  await t.step("--sync-period=2s", () => {
    assert.equal(config(["--trust-domain=a", "--sync-period=2s"]).syncPeriodMs, 2_000);
  });
});

Deno.test("--spire-stats-interval takes a duration of whole seconds", async (t) => {
  const cases: [string, string][] = [
    [
      "--spire-stats-interval=5",
      '--spire-stats-interval="5": expected a duration such as 15s, 500ms or 1m',
    ],
    ["--spire-stats-interval=0s", "--spire-stats-interval=0s: must be greater than zero"],
    [
      "--spire-stats-interval=1500ms",
      "--spire-stats-interval=1500ms: must be a whole number of seconds (status.spire.lastChangeTime has whole seconds)",
    ],
  ];
  for (const [arg, message] of cases) {
    await t.step(arg, () => {
      assert.deepEqual(parseConfig(["--trust-domain=a", arg], () => undefined), {
        kind: "usage",
        message,
      });
    });
  }
  await t.step("--spire-stats-interval=1m", () => {
    assert.equal(
      config(["--trust-domain=a", "--spire-stats-interval=1m"]).spireStatsIntervalMs,
      60_000,
    );
  });
});

Deno.test("metrics TLS flags: secure by default, cert dir with file names, conflicts refused", async (t) => {
  await t.step("--metrics-secure=false serves plain HTTP", () => {
    const c = config(["--trust-domain=a", "--metrics-secure=false"]);
    assert.equal(c.metricsSecure, false);
    assert.equal(c.metricsCert, undefined);
  });
  await t.step("--metrics-cert-dir alone uses tls.crt and tls.key", () => {
    assert.deepEqual(
      config(["--trust-domain=a", "--metrics-cert-dir=/var/run/certs"]).metricsCert,
      {
        dir: "/var/run/certs",
        certName: "tls.crt",
        keyName: "tls.key",
      },
    );
  });
  const refused: [string[], RegExp][] = [
    [["--metrics-cert-name=x.crt"], /^--metrics-cert-name needs --metrics-cert-dir$/],
    [["--metrics-key-name=x.key"], /^--metrics-key-name needs --metrics-cert-dir$/],
    [["--metrics-cert-dir=/c", "--metrics-cert-name=a/b"], /not a path/],
    [["--metrics-cert-dir="], /^--metrics-cert-dir must not be empty$/],
    [["--metrics-cert-dir=/c", "--metrics-secure=false"], /no effect with --metrics-secure=false/],
    [["--metrics-secure=maybe"], /expected true or false/],
  ];
  for (const [args, want] of refused) {
    await t.step(`refused: ${args.join(" ")}`, () => {
      assert.match(usage(["--trust-domain=a", ...args]), want);
    });
  }
});

Deno.test("--identity-overlap: warn by default, refuse by flag or KLEYM_IDENTITY_OVERLAP", () => {
  assert.equal(config(["--trust-domain=a"]).identityOverlap, "warn");
  assert.equal(config(["--trust-domain=a", "--identity-overlap=refuse"]).identityOverlap, "refuse");
  const env = envOf({ KLEYM_IDENTITY_OVERLAP: "refuse" });
  assert.equal(config(["--trust-domain=a"], env).identityOverlap, "refuse");
  assert.equal(
    config(["--trust-domain=a", "--identity-overlap=warn"], env).identityOverlap,
    "warn",
  );
  assert.equal(
    usage(["--trust-domain=a", "--identity-overlap=deny"]),
    '--identity-overlap="deny": expected one of warn, refuse',
  );
  assert.equal(
    usage(["--trust-domain=a"], envOf({ KLEYM_IDENTITY_OVERLAP: "Refuse" })),
    'KLEYM_IDENTITY_OVERLAP="Refuse": expected one of warn, refuse',
  );
});

Deno.test("messages the flag table changed: each is one line naming the fix", async (t) => {
  const td = "--trust-domain=a";
  const cases: [string, string[], string][] = [
    [
      "a value that starts with '-' must be attached, so a forgotten value never eats a flag",
      [td, "--context", "-x"],
      "--context needs a value (--context=name)",
    ],
    [
      "the same for a namespace",
      [td, "--leader-elect-namespace", "-x"],
      "--leader-elect-namespace needs a value (--leader-elect-namespace=namespace)",
    ],
    [
      '"--" is an argument, not an unknown flag',
      [td, "--"],
      'unexpected argument "--": kleym-operator takes only flags',
    ],
    [
      "durations in messages are written as the flags take them",
      [td, "--leader-elect-lease-duration=90s", "--leader-elect-renew-deadline=95s"],
      "--leader-elect-renew-deadline (1m35s) must be shorter than --leader-elect-lease-duration (1m30s)",
    ],
  ];
  for (const [name, args, message] of cases) {
    await t.step(name, () => assert.equal(usage(args), message));
  }
  await t.step("an attached value may start with '-'", () => {
    assert.equal(config([td, "--context=-x"]).context, "-x");
  });
});

Deno.test("the help states every default from the value the parser uses", () => {
  const text = helpText();
  for (
    const [line, want] of [
      ["--sync-period", "(default 10m)"],
      ["--startup-timeout", "(default 1m)"],
      ["--leader-elect-lease-duration", "(default 15s)"],
      ["--spire-stats-interval", "(default 10s)"],
      ["--max-concurrent-reconciles", "(default 4)"],
      ["--kube-api-qps", "(default 200)"],
      ["--metrics-bind-address", '(default "127.0.0.1:8443")'],
    ]
  ) {
    const at = text.indexOf(`  ${line} `);
    assert.ok(at >= 0, line);
    const help = text.slice(at).split("\n")[1];
    assert.ok(help.includes(want), `${line}: ${help}`);
  }
});
