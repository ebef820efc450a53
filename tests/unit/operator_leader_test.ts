import assert from "node:assert/strict";
import { decideLease, holderIdentity, microTime } from "../../operator/leader.ts";

Deno.test("lease decisions judge expiry on our clock from when we saw the record change", () => {
  const me = "me_1";
  const cases: {
    name: string;
    spec: Parameters<typeof decideLease>[0];
    observedAt: number;
    now: number;
    want: ReturnType<typeof decideLease>;
  }[] = [
    {
      name: "ours: renew",
      spec: { holderIdentity: me, leaseDurationSeconds: 15 },
      observedAt: 0,
      now: 99_000,
      want: "renew",
    },
    {
      name: "released (empty holder): take",
      spec: { holderIdentity: "", leaseDurationSeconds: 1 },
      observedAt: 0,
      now: 0,
      want: "take",
    },
    { name: "no spec: take", spec: undefined, observedAt: 0, now: 0, want: "take" },
    {
      name: "other, fresh: wait",
      spec: { holderIdentity: "other", leaseDurationSeconds: 15 },
      observedAt: 1_000,
      now: 15_999,
      want: "wait",
    },
    {
      name: "other, expired by our clock: take",
      spec: { holderIdentity: "other", leaseDurationSeconds: 15 },
      observedAt: 1_000,
      now: 16_000,
      want: "take",
    },
    {
      // renewTime says long ago, but we only just saw it: a remote clock is not trusted
      name: "other with an old renewTime just observed: wait",
      spec: {
        holderIdentity: "other",
        leaseDurationSeconds: 15,
        renewTime: "2000-01-01T00:00:00.000000Z",
      },
      observedAt: 50_000,
      now: 50_001,
      want: "wait",
    },
  ];
  for (const c of cases) assert.equal(decideLease(c.spec, me, c.observedAt, c.now), c.want, c.name);
});

Deno.test("MicroTime has exactly six fractional digits in UTC", () => {
  assert.equal(microTime(Date.UTC(2025, 4, 6, 7, 8, 9, 12)), "2025-05-06T07:08:09.012000Z");
});

Deno.test("holder identities keep the host and differ per process", () => {
  const a = holderIdentity("pod-1");
  const b = holderIdentity("pod-1");
  assert.match(a, /^pod-1_[0-9a-f]{12}$/);
  assert.notEqual(a, b);
  assert.match(holderIdentity(""), /^kleym_/);
});
