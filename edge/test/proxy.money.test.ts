import { exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { count, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { usageRecords } from "../src/db/schema";
import { withDb } from "./helpers";
import { chatBody, debits, proxyUser } from "./proxy-helpers";

const post = (key: string, body: unknown, path = "/v1/chat/completions") =>
  exports.default.fetch(new Request(`http://localhost${path}`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) }));

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

    // Every answered call's usage record reaches Postgres exactly once, in batches from the user's outbox.
    let rows = 0;
    for (let i = 0; i < 100 && rows < ok; i++) {
      rows = await withDb(async (db) => (await db.select({ n: count() }).from(usageRecords).where(eq(usageRecords.userId, u.userId)))[0]!.n);
      if (rows < ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(rows).toBe(ok);
    expect(await u.account.pendingUsage()).toBe(0);
  }, 60_000);

  it("a client that aborts mid-stream is charged for what was streamed, once", async () => {
    const u = await proxyUser();
    const res = await post(u.key, chatBody("[[chunks:60]] [[slow:15]] long answer", { stream: true }));
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    for (let i = 0; i < 6; i++) await reader.read();
    await reader.cancel("user closed the tab");
    const [debit] = await debits(u.account);
    const partial = -debit!.amount;
    expect(partial).toBeGreaterThan(0);

    // The same answer streamed to the end costs more: the abort charge was only for what was sent.
    const full = await post(u.key, chatBody("[[chunks:60]] long answer", { stream: true }));
    await full.text();
    const both = await debits(u.account, 2);
    const fullPrice = -both.find((e) => e.amount !== debit!.amount)!.amount;
    expect(partial).toBeLessThan(fullPrice);

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

  it("a charge is never more than its hold, so the balance cannot go below zero", async () => {
    const u = await proxyUser(5_000);
    const keyHash = await runInDurableObject(u.account, (_o, state) => state.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'proxyKeyHash'").one().value);
    const held = await u.account.authorize({ keyHash, reservationId: "r-over", maxWholesale: 1_000, call: { tier: "simple", background: false, fingerprint: "f2", inbound: "i2" } });
    expect(held).toMatchObject({ ok: true, reserved: 1_200 });
    const settled = await u.account.settle("r-over", 1_000_000, "i2"); // an estimate far above the hold
    expect(settled.price).toBe(1_200);
    expect(settled.balance).toBe(3_800);
  });

  it("an unsettled reservation (a Worker that died) is released by the alarm", async () => {
    const u = await proxyUser(5_000);
    const held = await u.account.authorize({
      keyHash: await runInDurableObject(u.account, (_o, state) => state.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'proxyKeyHash'").one().value),
      reservationId: "never-settled",
      maxWholesale: 1_000,
      call: { tier: "simple", background: false, fingerprint: "f", inbound: "i" },
    });
    expect(held.ok).toBe(true);
    expect((await u.account.getBalance()).reserved).toBe(1_200);
    const released = await runInDurableObject(u.account, (obj) => (obj as unknown as { ledger: { releaseExpired(now: number): { released: number } } }).ledger.releaseExpired(Date.now() + 16 * 60_000));
    expect(released.released).toBe(1);
    expect(await u.account.getBalance()).toEqual({ balance: 5_000, reserved: 0, available: 5_000 });
  });
});
