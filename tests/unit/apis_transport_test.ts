/**
 * What `httpTransport` puts on the wire, observed by a plain loopback HTTP server: the server URL's
 * path prefix, query encoding, User-Agent, credentials, impersonation, and the single refresh +
 * retry after a 401.
 */
import { deepEqual, equal } from "node:assert/strict";
import { requestUrl } from "../../apis/transport.ts";
import { httpTransport } from "../../apis/transport.ts";
import type { CredentialProvider } from "../../apis/transport.ts";
import { VERSION } from "../../apis/version.ts";

interface Seen {
  url: string;
  headers: Headers;
  body: string;
}

async function withServer(
  answer: (seen: Seen, n: number) => Response,
  fn: (base: string, seen: Seen[]) => Promise<void>,
): Promise<void> {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const s = { url: req.url, headers: req.headers, body: await req.text() };
    seen.push(s);
    return answer(s, seen.length);
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    await server.shutdown();
  }
}

Deno.test("request URLs keep the server's path prefix and skip undefined query values", async (t) => {
  const cases: [string, string, Record<string, string | number | boolean | undefined>, string][] = [
    ["https://h:6443", "/api/v1/pods", {}, "https://h:6443/api/v1/pods"],
    ["https://h:6443/", "/api/v1/pods", { a: undefined }, "https://h:6443/api/v1/pods"],
    [
      "https://h/k8s/clusters/c1/",
      "/apis/x/v1/ys",
      { watch: true, limit: 5 },
      "https://h/k8s/clusters/c1/apis/x/v1/ys?watch=true&limit=5",
    ],
    [
      "https://h",
      "/api/v1/cms",
      { labelSelector: "a=b,c in (d)" },
      "https://h/api/v1/cms?labelSelector=a%3Db%2Cc+in+%28d%29",
    ],
  ];
  for (const [server, path, query, want] of cases) {
    await t.step(`${JSON.stringify(server)}`, () => {
      equal(requestUrl(server, { path, query }), want);
    });
  }
});

Deno.test("the HTTP transport sends prefix, User-Agent, token and impersonation headers", async () => {
  await withServer(() => new Response("{}"), async (base, seen) => {
    const t = httpTransport({
      server: `${base}/prefix/`,
      source: "test",
      namespace: "default",
      credentials: { get: () => Promise.resolve({ token: "tok" }), invalidate: () => {} },
      impersonate: { user: "alice", groups: ["g1", "g2"] },
    });
    try {
      const res = await t({
        method: "PATCH",
        path: "/api/v1/namespaces/a/configmaps/x",
        body: "{}",
        headers: { "Content-Type": "application/merge-patch+json" },
      });
      await res.body?.cancel();
    } finally {
      t.close();
    }
    equal(seen.length, 1);
    equal(new URL(seen[0].url).pathname, "/prefix/api/v1/namespaces/a/configmaps/x");
    equal(seen[0].headers.get("user-agent"), `kleym/${VERSION}`);
    equal(seen[0].headers.get("authorization"), "Bearer tok");
    equal(seen[0].headers.get("content-type"), "application/merge-patch+json");
    equal(seen[0].headers.get("impersonate-user"), "alice");
    equal(seen[0].headers.get("impersonate-group"), "g1, g2");
    equal(seen[0].body, "{}");
  });
});

Deno.test("a 401 refreshes the credentials and retries once", async (t) => {
  for (
    const [name, answers, wantTokens, wantStatus] of [
      ["accepted after refresh", [401, 200], ["old", "new"], 200],
      ["still rejected: no loop", [401, 401, 200], ["old", "new"], 401],
    ] as const
  ) {
    await t.step(name, async () => {
      await withServer(
        (_s, n) => new Response("{}", { status: answers[n - 1] }),
        async (base, seen) => {
          let token = "old";
          let invalidations = 0;
          const credentials: CredentialProvider = {
            get: () => Promise.resolve({ token }),
            invalidate: () => {
              invalidations++;
              token = "new";
            },
          };
          const tr = httpTransport({
            server: base,
            source: "test",
            namespace: "default",
            credentials,
          });
          try {
            const res = await tr({
              method: "POST",
              path: "/api/v1/namespaces/a/configmaps",
              body: '{"a":1}',
            });
            await res.body?.cancel();
            equal(res.status, wantStatus);
          } finally {
            tr.close();
          }
          deepEqual(
            seen.map((s) => s.headers.get("authorization")),
            wantTokens.map((t) => `Bearer ${t}`),
          );
          deepEqual(
            seen.map((s) => s.body),
            wantTokens.map(() => '{"a":1}'),
            "the body is replayed",
          );
          equal(invalidations, 1);
        },
      );
    });
  }
});
