import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { provisionAttempts } from "@oc/db/schema";
import { PROVISION_LIMIT_PER_HOUR } from "../src/services/entitlement";
import { call, grantAccess, operator, signup, verifyEmail, withDb } from "./helpers";
import { poll } from "../../test-harness/poll";
import { TEST_PORTS, TEST_SECRETS } from "../../test-harness/ports";
import { completeCheckout, signedWebhook } from "../../test-harness/stripe";

/**
 * Paid work needs payment, checked in the services (so every way in is covered): creating an agent, talking
 * to (waking) it and keeping it always on need an active plan or an operator's grant; API keys and chat
 * channels need a confirmed address; provisioning attempts are limited per account. Each refusal is shown
 * next to the same call succeeding once the account pays (or is granted).
 */
const CHAT = `http://127.0.0.1:${TEST_PORTS.chat}`;
const HOSTINGER = `http://127.0.0.1:${TEST_PORTS.hostinger}`;
const purchases = async () =>
  ((await fetch(`${HOSTINGER}/_received`).then((r) => r.json())) as { path: string }[]).filter((r) => r.path === "/api/vps/v1/virtual-machines").length;
const statusOf = async (userId: string) => (await env.USER_AGENT.getByName(userId).getSnapshot()).status;
const attempts = (userId: string) => withDb(async (db) => (await db.select().from(provisionAttempts).where(eq(provisionAttempts.userId, userId))).length);
const commandsOn = (nodeId: string) =>
  env.NODE_LINK.getByName(nodeId)
    .sentCommands()
    .then((rows) => rows.map((r) => r.command as any));

describe("paid work needs payment", () => {
  it("an unpaid account cannot create an agent, wake it with a message or keep it always on, and the fleet buys nothing for it", async () => {
    const u = await signup();
    const bought = await purchases();
    const provision = await call("/api/agent/provision", { method: "POST", cookie: u.cookie });
    expect(provision.status).toBe(402);
    expect(provision.body.error.code).toBe("PAYMENT_REQUIRED");
    expect(await statusOf(u.userId)).toBe("none"); // nothing was queued or placed
    expect(await attempts(u.userId)).toBe(0);
    const message = await call("/api/agent/messages", { body: { text: "hello" }, cookie: u.cookie });
    expect(message.status).toBe(402);
    expect(message.body.error.code).toBe("PAYMENT_REQUIRED");
    expect((await env.USER_AGENT.getByName(u.userId).listMessages()).length).toBe(0);
    const alwaysOn = await call("/api/agent/idle", { method: "PUT", body: { idleMinutes: 30, deepSleepMinutes: 120, alwaysOn: true }, cookie: u.cookie });
    expect(alwaysOn.body.error.code).toBe("PAYMENT_REQUIRED");
    // Sleep settings without "always on" are free.
    expect((await call("/api/agent/idle", { method: "PUT", body: { idleMinutes: 10, deepSleepMinutes: 0 }, cookie: u.cookie })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300)); // a nudged fleet check would have ordered by now
    expect(await purchases()).toBe(bought);

    // Positive control: the same account with an operator's grant gets through to placement (no node is
    // connected in these tests, so it is told there is no capacity), and its message and always-on are taken.
    await grantAccess(u.userId);
    const placed = await call("/api/agent/provision", { method: "POST", cookie: u.cookie });
    expect(placed.status).toBe(503);
    expect(placed.body.error.code).toBe("NO_CAPACITY");
    expect(await attempts(u.userId)).toBe(1);
    expect((await call("/api/agent/messages", { body: { text: "hello" }, cookie: u.cookie })).status).toBe(202);
    expect((await call("/api/agent/idle", { method: "PUT", body: { idleMinutes: 30, deepSleepMinutes: 120, alwaysOn: true }, cookie: u.cookie })).status).toBe(
      200,
    );
  });

  it("limits provisioning attempts per account, also when they arrive all at once", async () => {
    const u = await signup();
    await grantAccess(u.userId);
    const burst = await Promise.all(
      Array.from({ length: PROVISION_LIMIT_PER_HOUR + 2 }, () => call("/api/agent/provision", { method: "POST", cookie: u.cookie })),
    );
    const codes = burst.map((r) => r.body.error.code).sort();
    expect(codes).toEqual([...Array(PROVISION_LIMIT_PER_HOUR).fill("NO_CAPACITY"), "RATE_LIMITED", "RATE_LIMITED"]);
    const limited = await call("/api/agent/provision", { method: "POST", cookie: u.cookie });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("RATE_LIMITED");
    expect(await attempts(u.userId)).toBe(PROVISION_LIMIT_PER_HOUR);
    // Another account is not affected.
    const other = await signup();
    await grantAccess(other.userId);
    expect((await call("/api/agent/provision", { method: "POST", cookie: other.cookie })).body.error.code).toBe("NO_CAPACITY");
  });

  it("an unconfirmed address cannot create API keys or connect channels; once confirmed it can", async () => {
    const u = await signup();
    const key = await call("/api/account/api-keys", { body: { name: "cli" }, cookie: u.cookie });
    expect(key.status).toBe(403);
    expect(key.body.error.code).toBe("EMAIL_NOT_VERIFIED");
    const token = `555${Math.floor(Math.random() * 1000)}:CCCCCCCCCCCCCCCCCCCCCCCCCCCC`;
    const telegram = await call("/api/channels/telegram", { body: { botToken: token }, cookie: u.cookie });
    expect(telegram.status).toBe(403);
    expect(telegram.body.error.code).toBe("EMAIL_NOT_VERIFIED");
    const setWebhooks = async () =>
      ((await fetch(`${CHAT}/_received`).then((r) => r.json())) as { path: string }[]).filter((r) => r.path.includes(`/bot${token}/`)).length;
    expect(await setWebhooks()).toBe(0); // nothing was set up at Telegram
    expect((await call("/api/account/api-keys", { cookie: u.cookie })).body.keys).toEqual([]);

    await verifyEmail(u.email);
    expect((await call("/api/account/api-keys", { body: { name: "cli" }, cookie: u.cookie })).status).toBe(201);
    expect((await call("/api/channels/telegram", { body: { botToken: token }, cookie: u.cookie })).body).toMatchObject({ kind: "telegram" });
  });

  it("socket channels keep an agent always on, so they need paid access too", async () => {
    const u = await signup();
    await verifyEmail(u.email);
    const publicKey = "cd".repeat(32);
    const botToken = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz012345";
    expect((await call("/api/channels/discord", { body: { applicationId: "223344556677", publicKey, botToken }, cookie: u.cookie })).body.error.code).toBe(
      "PAYMENT_REQUIRED",
    );
    expect((await call("/api/channels/whatsapp_web", { method: "POST", cookie: u.cookie })).body.error.code).toBe("PAYMENT_REQUIRED");
    // Interactions alone do not keep anything running.
    expect((await call("/api/channels/discord", { body: { applicationId: "223344556677", publicKey }, cookie: u.cookie })).status).toBe(200);
    await grantAccess(u.userId);
    expect((await call("/api/channels/whatsapp_web", { method: "POST", cookie: u.cookie })).status).toBe(200);
  });

  it("paying needs no confirmed address, and the paid Checkout provisions", async () => {
    const u = await signup(); // not confirmed
    const checkout = await call("/api/billing/checkout", { body: { plan: "starter" }, cookie: u.cookie });
    expect(checkout.status).toBe(200);
    for (const event of await completeCheckout(`http://127.0.0.1:${TEST_PORTS.stripe}`, checkout.body.id)) {
      expect((await call("/api/webhooks/stripe", await signedWebhook(event, TEST_SECRETS.stripeWebhookSecret))).status).toBe(200);
    }
    // The webhook's provisioning (a follow-up job, after the 200) passed the payment check and reached
    // placement (no node here: it failed there).
    expect(
      await poll(
        () => statusOf(u.userId),
        (s) => s === "failed",
      ),
    ).toBe("failed");
    expect(await attempts(u.userId)).toBe(1);
    const activity = await env.USER_AGENT.getByName(u.userId).listActivity(20);
    expect(activity.map((a) => a.message).join("\n")).toContain("No server has room");
  });

  it("revoking a grant puts the agent to sleep even when it is set to stay on, and keeps it from waking", async () => {
    const u = await signup();
    await grantAccess(u.userId);
    const nodeId = `node_grant_${crypto.randomUUID().slice(0, 8)}`;
    const account = env.USER_AGENT.getByName(u.userId);
    await account.init(u.userId);
    await account.setPlacement(nodeId);
    await account.setStatus("ready");
    await account.setAlwaysOn(true);
    expect(await account.requestSleep("deep")).toBe(false); // always on: the idle path does not sleep it

    const revoked = await call(`/api/admin/grants/${u.userId}`, { method: "DELETE", cookie: await operator() });
    expect(revoked.status).toBe(200);
    expect((await commandsOn(nodeId)).map((c) => c.kind)).toEqual(["sleep"]);
    await account.onSlept(null);
    await account.sendMessage("wake up"); // channel traffic reaches the object directly
    expect((await commandsOn(nodeId)).map((c) => c.kind)).toEqual(["sleep"]); // not woken: nobody pays
    expect((await call("/api/agent/messages", { body: { text: "hello" }, cookie: u.cookie })).body.error.code).toBe("PAYMENT_REQUIRED");
    expect((await call("/api/admin/grants", { cookie: await operator() })).body.grants.some((g: { userId: string }) => g.userId === u.userId)).toBe(false);
  });
});
