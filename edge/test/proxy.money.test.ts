import { env, exports } from "cloudflare:workers";
import { UserAgent } from "../src/worker";
import { runInDurableObject } from "cloudflare:test";
import { count, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { usageRecords } from "@oc/db/schema";
import { withDb } from "./helpers";
import { chatBody, debits, proxyUser } from "./proxy-helpers";

const post = (key: string, body: unknown, path = "/v1/chat/completions") =>
  exports.default.fetch(
    new Request(`http://localhost${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );

describe("the ledger never overspends and never charges twice", () => {
  it("500 simultaneous requests against a small balance: zero overspend", async () => {
    const credit = 2_000;
    const u = await proxyUser(credit);
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => post(u.key, chatBody(`request ${i}`, { max_tokens: 50 }))));
    const statuses = results.map((r) => r.status);
    const ok = statuses.filter((s) => s === 200).length;
    const refused = results.filter((r) => r.status === 429);
    expect(ok + refused.length).toBe(500);
    expect(ok).toBeGreaterThan(10);
    expect(refused.length).toBeGreaterThan(0);
    const refusal = (await refused[0]!.json()) as { error: { code: string; message: string } };
    expect(refusal.error.code).toBe("balance_limit");
    expect(refusal.error.message).toMatch(/limit reached/i);
    expect(refusal.error.message).not.toMatch(/insufficient|credit|billing|payment/i);
    await Promise.all(results.filter((r) => !r.bodyUsed).map((r) => r.text()));

    const entries = await debits(u.account, ok);
    const charged = entries.reduce((sum, e) => sum - e.amount, 0);
    const balance = await u.account.getBalance();
    expect(entries).toHaveLength(ok); // one debit per answered request, none for refused ones
    expect(balance.reserved).toBe(0);
    expect(balance.balance).toBe(credit - charged);
    expect(balance.balance).toBeGreaterThanOrEqual(0); // never below zero
    // Charges are taken in full even above a hold, so this holds only because every hold bounded its call:
    // none was flagged as above it (the balance can fall below zero by at most the in-flight calls' excess).
    expect((await u.account.listActivity(200)).filter((a) => a.message.includes("more than was held"))).toEqual([]);

    // Every answered call's usage record reaches Postgres exactly once, in batches from the user's outbox.
    let rows = 0;
    for (let i = 0; i < 100 && rows < ok; i++) {
      rows = await withDb(async (db) => (await db.select({ n: count() }).from(usageRecords).where(eq(usageRecords.userId, u.userId)))[0]!.n);
      if (rows < ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(rows).toBe(ok);
    expect(await u.account.pendingUsage()).toBe(0);
  }, 60_000);

  it("a client that aborts mid-stream is charged once, for the whole answer the provider went on to produce", async () => {
    const u = await proxyUser();
    const body = chatBody("[[chunks:60]] [[slow:15]] long answer", { stream: true });
    const res = await post(u.key, body);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    for (let i = 0; i < 6; i++) await reader.read();
    await reader.cancel("user closed the tab");
    const [debit] = await debits(u.account);
    const aborted = -debit!.amount;
    expect(aborted).toBeGreaterThan(0);

    // The provider bills the whole answer whether or not the client reads it: the proxy read the rest of the
    // stream to its usage event, so the aborted call costs exactly what the same answer read to the end costs.
    const full = await post(u.key, body);
    await full.text();
    const both = await debits(u.account, 2);
    expect(both.map((e) => -e.amount)).toEqual([aborted, aborted]);
    let row: { reason: string | null } | undefined;
    for (let i = 0; i < 100 && !row; i++) {
      row = (
        await withDb((db) =>
          db
            .select({ reason: usageRecords.routeReason })
            .from(usageRecords)
            .where(eq(usageRecords.id, debit!.ref.replace(/^usage:/, ""))),
        )
      )[0];
      if (!row) await new Promise((r) => setTimeout(r, 100));
    }
    expect(row?.reason).not.toMatch(/ended early/); // settled from the provider's own usage

    // Settling the same reservation again changes nothing.
    const ref = debit!.ref.replace(/^usage:/, "");
    const again = await u.account.settle(ref, 999_999, "x");
    expect(again.applied).toBe(false);
    expect((await u.account.listLedger()).filter((e) => e.ref === debit!.ref)).toHaveLength(1);
  });

  it("an upstream that breaks mid-stream: the client sees the break, and what was streamed is charged", async () => {
    const u = await proxyUser();
    const res = await post(u.key, chatBody("[[chunks:30]] [[slow:10]] [[break:5]]", { stream: true }), "/v1/chat/completions");
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    const [debit] = await debits(u.account);
    expect(-debit!.amount).toBeGreaterThan(0);
    expect((await u.account.getBalance()).reserved).toBe(0);
  });

  it("a charge above its hold is charged in full and flagged (the balance may go below zero by the excess)", async () => {
    const u = await proxyUser(5_000);
    const keyHash = await runInDurableObject(
      u.account,
      (_o, state) => state.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'proxyKeyHash'").one().value,
    );
    const held = await u.account.authorize({
      keyHash,
      reservationId: "r-over",
      maxWholesale: 1_000,
      call: { tier: "simple", background: false, fingerprint: "f2", inbound: "i2" },
    });
    expect(held).toMatchObject({ ok: true, reserved: 1_200 });
    const settled = await u.account.settle("r-over", 10_000, "i2", {
      userId: u.userId,
      agentId: null,
      model: "gpt-4.1-nano",
      provider: "openai",
      tier: "simple",
      routeReason: "test",
      inputTokens: 1,
      outputTokens: 1,
      cachedTokens: 0,
      latencyMs: 1,
      background: "interactive",
    });
    expect(settled).toMatchObject({ applied: true, price: 12_000, overHold: 10_800, balance: -7_000 });
    expect((await u.account.getBalance()).available).toBe(-7_000);
    const flagged = (await u.account.listActivity(10)).find((a) => a.message.includes("more than was held"));
    expect(flagged?.message).toContain("charged in full");
    // The usage record carries the excess for the operator.
    let row: { overHoldMicros: number } | undefined;
    for (let i = 0; i < 100 && !row; i++) {
      row = await withDb(
        async (db) => (await db.select({ overHoldMicros: usageRecords.overHoldMicros }).from(usageRecords).where(eq(usageRecords.id, "r-over")))[0],
      );
      if (!row) await new Promise((r) => setTimeout(r, 100));
    }
    expect(row?.overHoldMicros).toBe(10_800);
    // A negative balance refuses the next call; a settlement within its hold is not flagged.
    expect(
      await u.account.authorize({
        keyHash,
        reservationId: "r-next",
        maxWholesale: 1,
        call: { tier: "simple", background: false, fingerprint: "f3", inbound: "i3" },
      }),
    ).toMatchObject({ ok: false, code: "balance_limit" });
    await u.account.credit(20_000, "test", "top-up");
    await u.account.authorize({
      keyHash,
      reservationId: "r-within",
      maxWholesale: 1_000,
      call: { tier: "simple", background: false, fingerprint: "f4", inbound: "i4" },
    });
    expect(await u.account.settle("r-within", 900, "i4")).toMatchObject({ applied: true, price: 1_080, overHold: 0 });
  });

  it("a restart of the object mid-call costs at most the holds open at that moment, once", async () => {
    const u = await proxyUser(10_000);
    const keyHash = await runInDurableObject(
      u.account,
      (_o, state) => state.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'proxyKeyHash'").one().value,
    );
    const call = (n: number) => ({ tier: "simple" as const, background: false, fingerprint: `crash-${n}`, inbound: `crash-${n}` });
    for (const n of [1, 2, 3])
      expect(await u.account.authorize({ keyHash, reservationId: `inflight-${n}`, maxWholesale: 1_000, call: call(n) })).toMatchObject({
        ok: true,
        reserved: 1_200,
      });
    expect((await u.account.getBalance()).reserved).toBe(3_600);
    // The object restarts (an isolate crash or eviction): a fresh instance on the same storage, as the
    // runtime would start, has none of the holds that lived in the old one's memory.
    const restarted = await runInDurableObject(u.account, (_o, state) => {
      const fresh = new UserAgent(state, env);
      return (async () => {
        expect(await fresh.getBalance()).toEqual({ balance: 10_000, reserved: 0, available: 10_000 });
        // So new calls may reserve the whole balance again...
        expect(await fresh.authorize({ keyHash, reservationId: "after-crash", maxWholesale: 8_333, call: call(4) })).toMatchObject({
          ok: true,
          reserved: 10_000,
        });
        await fresh.settle("after-crash", 8_333, "crash-4");
        // ...and the three forgotten calls still settle, charged in full: the balance goes below zero by at
        // most their holds (3 × 1_200), and settling any of them again changes nothing.
        const first = [];
        for (const n of [1, 2, 3]) first.push(await fresh.settle(`inflight-${n}`, 1_000, `crash-${n}`));
        const again = [];
        for (const n of [1, 2, 3]) again.push(await fresh.settle(`inflight-${n}`, 1_000, `crash-${n}`));
        const refused = await fresh.authorize({ keyHash, reservationId: "refused", maxWholesale: 1, call: call(5) });
        return { first, again, refused, balance: await fresh.getBalance() };
      })();
    });
    for (const s of restarted.first) expect(s).toMatchObject({ applied: true, price: 1_200, overHold: 1_200 });
    for (const s of restarted.again) expect(s).toMatchObject({ applied: false });
    expect(restarted.balance.balance).toBe(10_000 - 10_000 - 3_600);
    expect(restarted.balance.balance).toBeGreaterThanOrEqual(-3_600);
    // Once: with the balance below zero, nothing more is reserved until it is topped up.
    expect(restarted.refused).toMatchObject({ ok: false, code: "balance_limit" });
  });

  it("an unsettled reservation (a Worker that died) is released by the alarm", async () => {
    const u = await proxyUser(5_000);
    const held = await u.account.authorize({
      keyHash: await runInDurableObject(
        u.account,
        (_o, state) => state.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'proxyKeyHash'").one().value,
      ),
      reservationId: "never-settled",
      maxWholesale: 1_000,
      call: { tier: "simple", background: false, fingerprint: "f", inbound: "i" },
    });
    expect(held.ok).toBe(true);
    expect((await u.account.getBalance()).reserved).toBe(1_200);
    const released = await runInDurableObject(u.account, (obj) =>
      (obj as unknown as { ledger: { releaseExpired(now: number): { released: number } } }).ledger.releaseExpired(Date.now() + 16 * 60_000),
    );
    expect(released.released).toBe(1);
    expect(await u.account.getBalance()).toEqual({ balance: 5_000, reserved: 0, available: 5_000 });
  });
});
