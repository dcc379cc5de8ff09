import { env, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { agents, apiKeys, channels, emailOutbox, ledgerEntries, memories, sessions, subscriptions, users } from "@oc/db/schema";
import { loadEnv } from "../src/env";
import { deleteAfterGrace } from "../src/services/account-deletion";
import { buildServices } from "../src/services/build";
import { PASSWORD, call, paidSignup, signup, verifiedSignup, withDb } from "./helpers";
import { TEST_PORTS } from "../../test-harness/ports";
import { completeCheckout } from "../../test-harness/stripe";

/**
 * The data lifecycle a user expects: "delete my account" (and the same deletion once a cancelled plan's grace
 * period is over, run by the per-minute cron), and "export my data" as a zip.
 */
const STRIPE = `http://127.0.0.1:${TEST_PORTS.stripe}`;
const commandsOn = (nodeId: string) =>
  env.NODE_LINK.getByName(nodeId)
    .sentCommands()
    .then((rows) => rows.map((r) => r.command as any));
const inboxRows = (userId: string) =>
  runInDurableObject(env.USER_AGENT.getByName(userId), (_o, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM inbox").one().n);

/** An account with things to delete: an agent placed on a node, a key, a channel, a memory, a message, a ledger row. */
async function fullAccount() {
  const u = await paidSignup();
  const key = (await call("/api/account/api-keys", { body: { name: "cli" }, cookie: u.cookie })).body.key as string;
  const { agentId } = (await call("/api/agent/proxy-key", { method: "POST", cookie: u.cookie })).body;
  expect(
    (await call("/api/channels/telegram", { body: { botToken: `777${Math.floor(Math.random() * 1e4)}:EEEEEEEEEEEEEEEEEEEEEEEEEEEE` }, cookie: u.cookie }))
      .status,
  ).toBe(200);
  const nodeId = `node_del_${crypto.randomUUID().slice(0, 8)}`;
  const account = env.USER_AGENT.getByName(u.userId);
  await account.setPlacement(nodeId);
  await account.setStatus("ready");
  await account.sendMessage("my private note");
  await withDb(async (db) => {
    await db.insert(memories).values({ id: `mem_${crypto.randomUUID().slice(0, 8)}`, agentId, content: "my sister Ada's birthday is 3 March" });
    await db.insert(ledgerEntries).values({
      id: `led_${crypto.randomUUID().slice(0, 8)}`,
      userId: u.userId,
      kind: "credit_pack",
      amountMicros: 5_000_000,
      source: "pack",
      sourceId: `cs_${crypto.randomUUID()}`,
    });
  });
  return { ...u, key, agentId, nodeId };
}

async function expectDeleted(u: Awaited<ReturnType<typeof fullAccount>>) {
  const remove = (await commandsOn(u.nodeId)).find((c) => c.kind === "remove");
  expect(remove).toEqual({ kind: "remove", userId: u.userId, erase: true }); // container, local state and S3 archives
  expect((await call("/api/auth/me", { cookie: u.cookie })).status).toBe(401);
  expect((await call("/api/auth/me", { headers: { authorization: `Bearer ${u.key}` } })).status).toBe(401);
  expect((await call("/api/auth/login", { body: { email: u.email, password: PASSWORD } })).status).toBe(401);
  await withDb(async (db) => {
    const [row] = await db.select().from(users).where(eq(users.id, u.userId));
    expect(row).toMatchObject({ email: `deleted+${u.userId}@deleted.invalid`, name: null, passwordHash: null, totpSecretEnc: null });
    expect(row!.deletedAt).not.toBeNull();
    expect(await db.select().from(agents).where(eq(agents.userId, u.userId))).toEqual([]);
    expect(await db.select().from(channels).where(eq(channels.agentId, u.agentId))).toEqual([]);
    expect(await db.select().from(memories).where(eq(memories.agentId, u.agentId))).toEqual([]);
    expect(await db.select().from(sessions).where(eq(sessions.userId, u.userId))).toEqual([]);
    expect(await db.select().from(emailOutbox).where(eq(emailOutbox.userId, u.userId))).toEqual([]);
    expect((await db.select().from(apiKeys).where(eq(apiKeys.userId, u.userId))).every((k) => k.revokedAt)).toBe(true);
    // Kept for accounting, with the user id and nothing personal.
    expect((await db.select().from(ledgerEntries).where(eq(ledgerEntries.userId, u.userId))).map((l) => l.amountMicros)).toEqual([5_000_000]);
  });
  expect(await inboxRows(u.userId)).toBe(0);
  expect((await env.USER_AGENT.getByName(u.userId).getBalance()).balance).toBeGreaterThanOrEqual(0);
}

describe("delete my account", () => {
  it("needs the password; then removes the agent, its archives, channels, keys, sessions and personal rows, keeping anonymous accounting rows", async () => {
    const u = await fullAccount();
    const wrong = await call("/api/account/delete", { body: { password: "not-the-password" }, cookie: u.cookie });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe("INVALID_CREDENTIALS");
    expect((await call("/api/auth/me", { cookie: u.cookie })).status).toBe(200); // nothing happened
    const viaKey = await call("/api/account/delete", { body: { password: PASSWORD }, headers: { authorization: `Bearer ${u.key}` } });
    expect(viaKey.status).toBe(403); // an API key cannot delete its own account

    const done = await call("/api/account/delete", { body: { password: PASSWORD }, cookie: u.cookie });
    expect(done.status).toBe(200);
    expect(done.body).toEqual({ deleted: true });
    await expectDeleted(u);
    // The address is free again: the person may sign up afresh (and then sign in with the new account).
    expect((await call("/api/auth/signup", { body: { email: u.email, password: PASSWORD } })).status).toBe(202);
    expect((await call<{ status: string }>("/api/auth/login", { body: { email: u.email, password: PASSWORD } })).body.status).toBe("signed_in");
  });

  it("cancels an active plan with Stripe first, so a deleted account is never charged again", async () => {
    const u = await signup();
    const checkout = await call("/api/billing/checkout", { body: { plan: "starter" }, cookie: u.cookie });
    const events = await completeCheckout(STRIPE, checkout.body.id);
    const subId: string = events.find((e) => e.type === "checkout.session.completed")!.data.object.subscription;
    await withDb((db) =>
      db
        .insert(subscriptions)
        .values({ id: `sub_${crypto.randomUUID().slice(0, 8)}`, userId: u.userId, planId: "starter", status: "active", stripeSubscriptionId: subId }),
    );
    const before = (await fetch(`${STRIPE}/_events`).then((r) => r.json())) as unknown[];
    expect((await call("/api/account/delete", { body: { password: PASSWORD }, cookie: u.cookie })).status).toBe(200);
    const after = (await fetch(`${STRIPE}/_events`).then((r) => r.json())) as { type: string; data: { object: { id: string; status: string } } }[];
    expect(
      after.slice(before.length).some((e) => e.type === "customer.subscription.deleted" && e.data.object.id === subId && e.data.object.status === "canceled"),
    ).toBe(true);
    expect((await withDb((db) => db.select().from(subscriptions).where(eq(subscriptions.userId, u.userId))))[0]!.status).toBe("canceled");
  });

  it("the cron deletes accounts whose cancelled plan's grace period is over, and only those", async () => {
    const due = await fullAccount();
    const waiting = await signup();
    const now = Date.now();
    await withDb(async (db) => {
      await db.insert(subscriptions).values({
        id: `sub_${crypto.randomUUID().slice(0, 8)}`,
        userId: due.userId,
        planId: "starter",
        status: "canceled",
        graceUntil: new Date(now - 60_000),
      }); // backdated
      await db.insert(subscriptions).values({
        id: `sub_${crypto.randomUUID().slice(0, 8)}`,
        userId: waiting.userId,
        planId: "starter",
        status: "canceled",
        graceUntil: new Date(now + 86_400_000),
      });
    });
    const { services, finish } = buildServices(loadEnv(env).env!, "test-cron");
    const { deleted } = await deleteAfterGrace(services, 100);
    await finish();
    expect(deleted).toContain(due.userId);
    expect(deleted).not.toContain(waiting.userId);
    await expectDeleted(due);
    expect((await call("/api/auth/me", { cookie: waiting.cookie })).status).toBe(200);
    // Once deleted it is not picked up again.
    const again = buildServices(loadEnv(env).env!, "test-cron");
    expect((await deleteAfterGrace(again.services, 100)).deleted).not.toContain(due.userId);
    await again.finish();
  });
});

/** Reads a stored (uncompressed) zip through its central directory: name → text. */
function unzip(buf: Uint8Array): Map<string, string> {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const end = buf.length - 22;
  expect(v.getUint32(end, true)).toBe(0x06054b50);
  const count = v.getUint16(end + 10, true);
  let at = v.getUint32(end + 16, true);
  const out = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    expect(v.getUint32(at, true)).toBe(0x02014b50);
    const size = v.getUint32(at + 24, true);
    const nameLen = v.getUint16(at + 28, true);
    const local = v.getUint32(at + 42, true);
    const name = new TextDecoder().decode(buf.subarray(at + 46, at + 46 + nameLen));
    const dataAt = local + 30 + v.getUint16(local + 26, true);
    out.set(name, new TextDecoder().decode(buf.subarray(dataAt, dataAt + size)));
    at += 46 + nameLen;
  }
  return out;
}

describe("export my data", () => {
  it("gives a zip of the account, memories and conversations, and says why files are missing when the agent's server is away", async () => {
    const u = await verifiedSignup();
    const { agentId } = (await call("/api/agent/proxy-key", { method: "POST", cookie: u.cookie })).body;
    await withDb((db) => db.insert(memories).values({ id: `mem_${crypto.randomUUID().slice(0, 8)}`, agentId, content: "I like green tea" }));
    await env.USER_AGENT.getByName(u.userId).sendMessage("Plan my trip to Lisbon");
    await env.USER_AGENT.getByName(u.userId).setPlacement(`node_export_${crypto.randomUUID().slice(0, 6)}`); // never connected
    const res = await exports.default.fetch(
      new Request("http://localhost/api/account/export", { headers: { cookie: u.cookie, "cf-connecting-ip": "10.9.9.9" } }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/zip");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="openclaw-cloud-export-\d{4}-\d{2}-\d{2}\.zip"$/);
    const files = unzip(new Uint8Array(await res.arrayBuffer()));
    expect([...files.keys()]).toEqual(["account.json", "memories.json", "conversations.json", "files/README.txt"]);
    expect(JSON.parse(files.get("account.json")!)).toMatchObject({ id: u.userId, email: u.email });
    expect(JSON.parse(files.get("memories.json")!).map((m: { content: string }) => m.content)).toEqual(["I like green tea"]);
    expect(JSON.parse(files.get("conversations.json")!).messages.map((m: { text: string }) => m.text)).toEqual(["Plan my trip to Lisbon"]);
    expect(files.get("files/README.txt")).toContain("not reachable");
  });
});
