import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, grantAccess, verifiedSignup } from "./helpers";
import { poll } from "../../test-harness/poll";
import { TEST_PORTS } from "../../test-harness/ports";
import { commandsOn, readyAgent } from "../../test-harness/workerd/agents";

/**
 * Channels with their real signature schemes (Telegram secret token, Slack v0 HMAC with a time window,
 * WhatsApp X-Hub-Signature-256, Discord Ed25519), computed here valid and invalid; accepted traffic queued
 * in order in the user's Durable Object; bridged replies sent to the platforms' APIs (a local stand-in).
 */
const STAND_IN = `http://127.0.0.1:${TEST_PORTS.chat}`;
const received = async (prefix: string) =>
  ((await fetch(`${STAND_IN}/_received`).then((r) => r.json())) as { method: string; path: string; auth?: string; body: any }[]).filter((r) =>
    r.path.startsWith(prefix),
  );
const hex = (b: ArrayBuffer | Uint8Array) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
async function hmac(secret: string, data: string) {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return hex(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(data)));
}

async function agentOf(u: { userId: string; cookie: string }) {
  const key = await call("/api/agent/proxy-key", { method: "POST", cookie: u.cookie });
  return key.body.agentId as string;
}

/** The user's inbox rows (messages and forwarded updates), oldest first. */
const inbox = (userId: string) =>
  runInDurableObject(env.USER_AGENT.getByName(userId), (_o, state) =>
    state.storage.sql
      .exec<{ id: number; kind: string; session: string; text: string; payload: string | null; command_id: string | null }>(
        "SELECT id, kind, session, text, payload, command_id FROM inbox ORDER BY id",
      )
      .toArray()
      .map((r) => ({ ...r })),
  );

/** Marks the user's agent as running on a (socketless) node, so queued traffic is sent as commands. */
const runningOn = async (userId: string, nodeId: string) => (await readyAgent(userId, nodeId)).account;

describe("Telegram (native webhook mode)", () => {
  it("connecting sets the edge as the bot's webhook with a secret; updates are checked against it and forwarded in order", async () => {
    const u = await verifiedSignup();
    const agentId = await agentOf(u);
    const bad = await call("/api/channels/telegram", { body: { botToken: "123456:bad-token-bad-token-bad-token" }, cookie: u.cookie });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("did not accept this bot token");

    const ok = await call("/api/channels/telegram", { body: { botToken: "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAA" }, cookie: u.cookie });
    expect(ok.body).toMatchObject({ kind: "telegram", bot: "@stand_in_bot", appliedToAgent: false });
    const setWebhook = (await received("/telegram/bot123456:AAAA")).find((r) => r.path.endsWith("/setWebhook"))!;
    expect(setWebhook.body.url).toBe(`http://localhost:8787/hooks/telegram/${agentId}`);
    const secret = setWebhook.body.secret_token as string;
    expect(secret).toMatch(/^[\w-]{24,}$/);
    const list = (await call("/api/channels", { cookie: u.cookie })).body.channels;
    expect(list.find((c: { kind: string }) => c.kind === "telegram")).toMatchObject({ connected: true });

    const update = (n: number) => JSON.stringify({ update_id: n, message: { message_id: n, chat: { id: 42, type: "private" }, text: `message ${n}` } });
    const forged = await call(`/hooks/telegram/${agentId}`, {
      rawBody: update(0),
      headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": "not-the-secret" },
    });
    expect(forged.status).toBe(401);
    expect(await inbox(u.userId)).toEqual([]);

    const nodeId = `node_tg_${crypto.randomUUID().slice(0, 8)}`;
    await runningOn(u.userId, nodeId);
    // A burst of 12 updates: each is queued in arrival order and forwarded in that order.
    for (let n = 1; n <= 12; n++) {
      const r = await call(`/hooks/telegram/${agentId}`, {
        rawBody: update(n),
        headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret },
      });
      expect(r.body).toMatchObject({ ok: true, accepted: true });
    }
    const forwards = (await commandsOn(nodeId)).filter((c) => c.command.kind === "forward");
    expect(forwards.map((c) => JSON.parse(c.command.body).update_id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(forwards[0]!.command).toMatchObject({ port: 8787, path: "/telegram-webhook", headers: { "x-telegram-bot-api-secret-token": secret } });

    // Oversized payloads are refused before anything is read into the queue.
    const huge = await call(`/hooks/telegram/${agentId}`, {
      rawBody: "x".repeat(2 * 1024 * 1024),
      headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret },
    });
    expect(huge.status).toBe(413);

    // Disconnected: Telegram's late deliveries are acknowledged (no retry storm) and dropped.
    expect((await call("/api/channels/telegram", { method: "DELETE", cookie: u.cookie })).status).toBe(200);
    expect((await received("/telegram/bot123456:AAAA")).some((r) => r.path.endsWith("/deleteWebhook"))).toBe(true);
    const late = await call(`/hooks/telegram/${agentId}`, {
      rawBody: update(13),
      headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret },
    });
    expect(late.body).toMatchObject({ ok: true, accepted: false });
    expect((await inbox(u.userId)).filter((r) => r.kind === "forward")).toHaveLength(12);
  });
});

describe("Slack (Events API, OpenClaw's HTTP mode)", () => {
  it("checks the v0 signature and timestamp window, answers url_verification, and forwards events unchanged to the agent's Slack listener", async () => {
    const u = await verifiedSignup();
    const agentId = await agentOf(u);
    const signingSecret = "slack-signing-secret-0123456789";
    expect((await call("/api/channels/slack", { body: { botToken: "xoxb-bad", signingSecret }, cookie: u.cookie })).status).toBe(400);
    const ok = await call("/api/channels/slack", { body: { botToken: "xoxb-good-token", signingSecret }, cookie: u.cookie });
    expect(ok.body.requestUrl).toBe(`http://localhost:8787/hooks/slack/${agentId}`);

    const post = async (payload: unknown, opts: { ts?: number; secret?: string; retry?: string } = {}) => {
      const body = JSON.stringify(payload);
      const ts = String(opts.ts ?? Math.floor(Date.now() / 1000));
      const sig = `v0=${await hmac(opts.secret ?? signingSecret, `v0:${ts}:${body}`)}`;
      const headers: Record<string, string> = { "content-type": "application/json", "x-slack-request-timestamp": ts, "x-slack-signature": sig };
      if (opts.retry) headers["x-slack-retry-num"] = opts.retry;
      return { reply: await call(`/hooks/slack/${agentId}`, { rawBody: body, headers }), body, ts, sig };
    };
    expect((await post({ type: "url_verification", challenge: "ch4llenge" })).reply.body).toEqual({ challenge: "ch4llenge" });
    expect((await post({ type: "url_verification", challenge: "x" }, { secret: "wrong-secret-wrong-secret" })).reply.body.error.code).toBe("INVALID_SIGNATURE");
    const replay = (await post({ type: "url_verification", challenge: "x" }, { ts: Math.floor(Date.now() / 1000) - 600 })).reply;
    expect(replay.status).toBe(400);
    expect(replay.body.error.message).toContain("Stale");

    const nodeId = `node_sl_${crypto.randomUUID().slice(0, 8)}`;
    await runningOn(u.userId, nodeId);
    const first = await post({
      type: "event_callback",
      event_id: "Ev1",
      event: { type: "message", channel: "C123", ts: "111.222", text: "what is on my calendar?" },
    });
    const second = await post({
      type: "event_callback",
      event_id: "Ev2",
      event: { type: "app_mention", channel: "C123", ts: "111.333", text: "<@U1> and tomorrow?" },
    });
    expect((await post({ type: "event_callback", event_id: "Ev1", event: { type: "message" } }, { retry: "1" })).reply.body).toEqual({
      accepted: false,
      duplicate: true,
    });
    // In order, byte for byte, with Slack's own signature: OpenClaw verifies it again with the same secret.
    const forwards = (await commandsOn(nodeId)).filter((c) => c.command.kind === "forward").map((c) => c.command);
    expect(forwards).toHaveLength(2);
    expect(forwards[0]).toMatchObject({
      port: 18789,
      path: "/slack/events",
      body: first.body,
      headers: { "x-slack-signature": first.sig, "x-slack-request-timestamp": first.ts },
    });
    expect(forwards[1]).toMatchObject({ body: second.body, headers: { "x-slack-signature": second.sig } });
    expect((await inbox(u.userId)).filter((r) => r.kind === "message")).toEqual([]);
  });
});

describe("WhatsApp (Cloud API, bridged)", () => {
  it("answers the verify challenge only with the right token, checks X-Hub-Signature-256, and replies through the Cloud API", async () => {
    const u = await verifiedSignup();
    const agentId = await agentOf(u);
    const appSecret = "whatsapp-app-secret-0123456789";
    const bad = await call("/api/channels/whatsapp", { body: { accessToken: "bad-access-token", phoneNumberId: "1234567890", appSecret }, cookie: u.cookie });
    expect(bad.status).toBe(400);
    const ok = await call("/api/channels/whatsapp", { body: { accessToken: "EAAG-good-token", phoneNumberId: "1234567890", appSecret }, cookie: u.cookie });
    const verify = ok.body.verifyToken as string;
    const challenge = await call(`/hooks/whatsapp/${agentId}?hub.mode=subscribe&hub.verify_token=${verify}&hub.challenge=98765`);
    expect([challenge.status, challenge.body]).toEqual([200, 98765]);
    expect((await call(`/hooks/whatsapp/${agentId}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1`)).status).toBe(403);

    const body = JSON.stringify({
      entry: [
        {
          changes: [
            {
              value: {
                messages: [
                  {
                    id: `wamid.${crypto.randomUUID()}`,
                    timestamp: String(Math.floor(Date.now() / 1000)),
                    from: "15550001111",
                    type: "text",
                    text: { body: "hola" },
                  },
                  { from: "15550001111", type: "image" },
                ],
              },
            },
          ],
        },
      ],
    });
    const forged = await call(`/hooks/whatsapp/${agentId}`, {
      rawBody: body,
      headers: { "content-type": "application/json", "x-hub-signature-256": `sha256=${await hmac("other", body)}` },
    });
    expect(forged.status).toBe(400);
    const nodeId = `node_wa_${crypto.randomUUID().slice(0, 8)}`;
    const account = await runningOn(u.userId, nodeId);
    const good = await call(`/hooks/whatsapp/${agentId}`, {
      rawBody: body,
      headers: { "content-type": "application/json", "x-hub-signature-256": `sha256=${await hmac(appSecret, body)}` },
    });
    expect(good.body).toEqual({ accepted: 1 });
    const [row] = await inbox(u.userId);
    expect(row).toMatchObject({ session: "whatsapp:15550001111", text: "hola" });
    await account.onDelivered(row!.command_id!, true, "¡Hola!", null);
    const sent = await poll(
      () => received("/graph/1234567890/messages"),
      (r) => r.length > 0,
    );
    expect(sent.at(-1)).toMatchObject({ auth: "Bearer EAAG-good-token", body: { to: "15550001111", type: "text", text: { body: "¡Hola!" } } });
  });
});

describe("Discord (interactions, bridged)", () => {
  it("verifies Ed25519 signatures (401 otherwise), answers PING, defers a slash command and edits in the agent's answer", async () => {
    const u = await verifiedSignup();
    const agentId = await agentOf(u);
    const keys = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const publicKey = hex((await crypto.subtle.exportKey("raw", keys.publicKey)) as ArrayBuffer);
    await call("/api/channels/discord", { body: { applicationId: "112233445566", publicKey }, cookie: u.cookie });
    const send = async (payload: unknown, signer = keys.privateKey) => {
      const body = JSON.stringify(payload);
      const ts = String(Math.floor(Date.now() / 1000));
      const sig = hex(await crypto.subtle.sign("Ed25519", signer, new TextEncoder().encode(ts + body)));
      return call(`/hooks/discord/${agentId}`, {
        rawBody: body,
        headers: { "content-type": "application/json", "x-signature-ed25519": sig, "x-signature-timestamp": ts },
      });
    };
    expect((await send({ type: 1 })).body).toEqual({ type: 1 });
    const other = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    expect((await send({ type: 1 }, other.privateKey)).status).toBe(401);

    const nodeId = `node_dc_${crypto.randomUUID().slice(0, 8)}`;
    const account = await runningOn(u.userId, nodeId);
    expect(
      (
        await send({
          id: "1100000000000000001",
          type: 2,
          token: "itoken",
          channel_id: "99",
          data: { name: "ask", options: [{ name: "q", value: "summarise today" }] },
        })
      ).body,
    ).toEqual({ type: 5 });
    const [row] = await inbox(u.userId);
    expect(row).toMatchObject({ session: "discord:99", text: "summarise today" });
    await account.onDelivered(row!.command_id!, true, "Here is today.", null);
    const edits = await poll(
      () => received("/discord/webhooks/112233445566/itoken/messages/@original"),
      (r) => r.length > 0,
    );
    expect(edits[0]).toMatchObject({ method: "PATCH", body: { content: "Here is today." } });
  });
});

/** A setting of the user's Durable Object, as it holds it. */
const metaValue = (userId: string, key: string) =>
  runInDurableObject(env.USER_AGENT.getByName(userId), (o) => (o as unknown as { meta: { get(k: string): string | null } }).meta.get(key));
const alwaysOn = (userId: string) => metaValue(userId, "alwaysOn");

describe("Discord bot (OpenClaw's own plugin, on Discord's gateway)", () => {
  it("checks the bot token with Discord, keeps the agent awake while the bot is connected, and refuses a bad token", async () => {
    const u = await verifiedSignup();
    await grantAccess(u.userId); // a bot keeps the agent always on: paid work
    await agentOf(u);
    const publicKey = "ab".repeat(32);
    const botToken = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz012345";
    const bad = await call("/api/channels/discord", {
      body: { applicationId: "112233445566", publicKey, botToken: botToken.replace("abc", "bad") },
      cookie: u.cookie,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("Discord did not accept this bot token");
    expect(await alwaysOn(u.userId)).toBeNull();

    const ok = await call("/api/channels/discord", { body: { applicationId: "112233445566", publicKey, botToken }, cookie: u.cookie });
    expect(ok.body).toMatchObject({ kind: "discord", bot: "stand-in-bot", appliedToAgent: false });
    expect(await alwaysOn(u.userId)).toBe("1");
    const listed = (await call("/api/channels", { cookie: u.cookie })).body.channels.find((c: { kind: string }) => c.kind === "discord");
    expect(listed.wake).toContain("stays awake while connected");
    expect((await call("/api/channels/discord", { method: "DELETE", cookie: u.cookie })).status).toBe(200);
    expect(await alwaysOn(u.userId)).toBe("");

    // Interactions alone need no live socket and no change to the agent's config: it may sleep, and it is not
    // restarted (its proxy key, re-issued whenever the config is re-applied, stays the same).
    const keyBefore = await metaValue(u.userId, "proxyKeyHash");
    await call("/api/channels/discord", { body: { applicationId: "112233445566", publicKey }, cookie: u.cookie });
    expect(await alwaysOn(u.userId)).toBe("");
    expect(await metaValue(u.userId, "proxyKeyHash")).toBe(keyBefore);
  });
});

describe("WhatsApp (QR link, OpenClaw's own plugin)", () => {
  it("turns the plugin on with the agent kept awake, asks the agent's node for the QR code, and turns both off again", async () => {
    const u = await verifiedSignup();
    await grantAccess(u.userId);
    await agentOf(u);
    const on = await call("/api/channels/whatsapp_web", { method: "POST", cookie: u.cookie });
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ kind: "whatsapp_web", appliedToAgent: false });
    const listed = (await call("/api/channels", { cookie: u.cookie })).body.channels.find((c: { kind: string }) => c.kind === "whatsapp_web");
    expect(listed).toMatchObject({ connected: true, webhookUrl: null });
    expect(listed.wake).toContain("stays awake while it is linked");
    expect(await alwaysOn(u.userId)).toBe("1");

    // No agent yet, then an agent whose node is not connected: each says so, nothing is left queued.
    const none = await call("/api/channels/whatsapp_web/qr", { method: "POST", body: {}, cookie: u.cookie });
    expect(none.status).toBe(404);
    expect(none.body.error.message).toBe("Your agent has not been created yet.");
    await runningOn(u.userId, "node_wa_offline");
    const offline = await call("/api/channels/whatsapp_web/qr", { method: "POST", body: {}, cookie: u.cookie });
    expect(offline.status).toBe(502);
    expect(offline.body.error.message).toBe("Your agent's server is not reachable right now. Please try again in a minute.");
    expect(await commandsOn("node_wa_offline")).toEqual([]);

    expect((await call("/api/channels/whatsapp_web", { method: "DELETE", cookie: u.cookie })).status).toBe(200);
    expect(await alwaysOn(u.userId)).toBe("");
    const off = await call("/api/channels/whatsapp_web/qr", { method: "POST", body: {}, cookie: u.cookie });
    expect(off.status).toBe(409);
    expect(off.body.error.code).toBe("CONFLICT");
  });
});
