import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { usageRecords } from "@oc/db/schema";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { UsageOutbox, type UsageRow } from "../../durable-objects/src/usage-outbox";
import { signup, withDb } from "./helpers";

const row = (userId: string, extra: Partial<UsageRow> = {}): UsageRow => ({
  id: `r-${crypto.randomUUID()}`,
  userId,
  model: "gpt-5-mini",
  provider: "openai",
  inputTokens: 120,
  outputTokens: 30,
  costMicros: 75,
  priceMicros: 90,
  markupBps: 2000,
  latencyMs: 41,
  background: "interactive",
  ...extra,
});

describe("usage outbox (the user's Durable Object → Postgres)", () => {
  it("a batch that fails stays queued; sent again it lands once, with every field and the schema's defaults", async () => {
    const { userId } = await signup();
    const at = new Date("2026-11-30T12:34:56.789Z");
    const plain = row(userId); // no cached tokens, over-hold or time: the table's defaults fill them
    const full = row(userId, {
      agentId: "agt_1",
      tier: "standard",
      routeReason: "named model",
      priceVersion: 7,
      cachedTokens: 64,
      overHoldMicros: 3,
      createdAt: at,
    });
    const stored = await runInDurableObject(env.USER_AGENT.getByName(`outbox-${userId}`), async (_obj, state) => {
      const box = new UsageOutbox(state.storage.sql);
      box.add(plain);
      box.add(full);
      // A database that is not there (same server, no such database): the batch stays, its attempts counted.
      const missing = (env.DATABASE_URL as string).replace(/\/[^/?]+(\?|$)/, "/no_such_db$1");
      let failed: unknown;
      try {
        await box.flush(missing, env.NEON_LOCAL_WSPROXY as string);
      } catch (e) {
        failed = e;
      }
      const afterFailure = { pending: box.pending(), attempts: state.storage.sql.exec<{ a: number }>("SELECT SUM(attempts) AS a FROM usage_outbox").one().a };
      const sent = await box.flush(env.DATABASE_URL as string, env.NEON_LOCAL_WSPROXY as string);
      // The same record queued again (a batch re-sent after Postgres took it but the reply was lost) adds nothing.
      box.add({ ...plain, costMicros: 1 });
      const resent = await box.flush(env.DATABASE_URL as string, env.NEON_LOCAL_WSPROXY as string);
      return { failed: String(failed), afterFailure, sent, resent, pending: box.pending() };
    });
    expect(stored.failed).toMatch(/no_such_db/);
    expect(stored.afterFailure).toEqual({ pending: 2, attempts: 2 });
    expect(stored).toMatchObject({ sent: 2, resent: 1, pending: 0 });

    const rows = await withDb((db) => db.select().from(usageRecords).where(eq(usageRecords.userId, userId)));
    expect(rows).toHaveLength(2);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const p = byId.get(plain.id)!;
    expect(p).toMatchObject({ ...plain, agentId: null, tier: null, routeReason: null, priceVersion: null, cachedTokens: 0, overHoldMicros: 0 });
    expect(Math.abs(p.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(byId.get(full.id)).toEqual({ ...full, createdAt: at });
  });

  it("a busy object's batches share one database connection across its events; a failed batch drops it", async () => {
    const { userId } = await signup();
    const stub = env.USER_AGENT.getByName(userId);
    await stub.init(userId);
    const url = env.DATABASE_URL as string;
    const proxy = env.NEON_LOCAL_WSPROXY as string;
    // Each step is its own event of the object (as each alarm is); the backend pid names the connection.
    const step = (databaseUrl: string) =>
      runInDurableObject(stub, async (obj) => {
        const box = (obj as unknown as { outbox: UsageOutbox }).outbox;
        box.add(row(userId));
        const sent = await box.flush(databaseUrl, proxy).catch(() => 0);
        const db = (box as unknown as { db?: { pool: { query: (q: string) => Promise<{ rows: { pid: number }[] }> } } }).db;
        return { sent, pid: db ? (await db.pool.query("SELECT pg_backend_pid() AS pid")).rows[0]!.pid : undefined };
      });
    const first = await step(url);
    const second = await step(url);
    expect(first).toMatchObject({ sent: 1 });
    expect(second).toEqual({ sent: 1, pid: first.pid });
    // Positive control: a failed batch (no such database) discards the connection, and the next is a new one.
    expect(await step(url.replace(/\/[^/?]+(\?|$)/, "/no_such_db$1"))).toEqual({ sent: 0, pid: undefined });
    const third = await step(url);
    expect(third.sent).toBe(2); // the failed batch's row went with it
    expect(third.pid).not.toBe(first.pid);
    const rows = await withDb((db) => db.select().from(usageRecords).where(eq(usageRecords.userId, userId)));
    expect(rows).toHaveLength(4);
  });
});
