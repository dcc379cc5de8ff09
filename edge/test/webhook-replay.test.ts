import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, paidSignup } from "./helpers";
import { TEST_PORTS } from "../../test-harness/ports";
import { readyAgent } from "../../test-harness/workerd/agents";

/**
 * Replay attacks on /hooks: each platform's delivery, correctly signed, is sent twice. The second is
 * acknowledged (200, so the platform stops retrying) but never reaches the agent again: what reaches it is
 * counted in the user's Durable Object (its inbox and the commands queued for its node). A delivery with a new
 * id is the positive control (it IS taken in), and where the platform signs a timestamp, a correctly signed
 * but old delivery is refused or dropped.
 */
const hex = (b: ArrayBuffer | Uint8Array) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
async function hmac(secret: string, data: string) {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return hex(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(data)));
}
const now = () => Math.floor(Date.now() / 1000);

async function agentOf(u: { cookie: string }) {
  return (await call("/api/agent/proxy-key", { method: "POST", cookie: u.cookie })).body.agentId as string;
}

/** Everything that reached the agent: inbox rows (messages and forwarded updates), oldest first. */
const inbox = (userId: string) =>
  runInDurableObject(env.USER_AGENT.getByName(userId), (_o, state) =>
    state.storage.sql
      .exec<{ kind: string; text: string; payload: string | null }>("SELECT kind, text, payload FROM inbox ORDER BY id")
      .toArray()
      .map((r) => ({ ...r })),
  );
const forwardsTo = async (nodeId: string) =>
  (await env.NODE_LINK.getByName(nodeId).sentCommands()).map((r) => r.command as any).filter((c) => c.kind === "forward" || c.kind === "deliver");

const runningOn = async (userId: string) => (await readyAgent(userId)).nodeId;

describe("webhook replays", () => {
  it("Telegram: the same update_id is forwarded once; a new one is forwarded", async () => {
    const u = await paidSignup(); // channels need a confirmed address, agents paid access
    const agentId = await agentOf(u);
    await call("/api/channels/telegram", { body: { botToken: "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAA" }, cookie: u.cookie });
    const received = (await fetch(`http://127.0.0.1:${TEST_PORTS.chat}/_received`).then((r) => r.json())) as { path: string; body: any }[];
    const secret = received.filter((r) => r.path.endsWith("/setWebhook") && r.body.url.endsWith(agentId)).at(-1)!.body.secret_token as string;
    const nodeId = await runningOn(u.userId);
    const deliver = (updateId: number) =>
      call(`/hooks/telegram/${agentId}`, {
        rawBody: JSON.stringify({
          update_id: updateId,
          message: { message_id: updateId, date: now(), chat: { id: 42, type: "private" }, text: `update ${updateId}` },
        }),
        headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret },
      });
    expect((await deliver(700)).body).toEqual({ ok: true, accepted: true });
    const replay = await deliver(700);
    expect([replay.status, replay.body]).toEqual([200, { ok: true, accepted: false, duplicate: true }]);
    expect((await deliver(701)).body).toEqual({ ok: true, accepted: true });
    expect((await forwardsTo(nodeId)).map((c) => JSON.parse(c.body).update_id)).toEqual([700, 701]);
    expect(await inbox(u.userId)).toHaveLength(2);
  });

  it("Slack: an event_id is forwarded once, also when re-signed with a fresh timestamp (a retry or a replay)", async () => {
    const u = await paidSignup(); // channels need a confirmed address, agents paid access
    const agentId = await agentOf(u);
    const signingSecret = "slack-signing-secret-replay-0123";
    await call("/api/channels/slack", { body: { botToken: "xoxb-good-token", signingSecret }, cookie: u.cookie });
    const nodeId = await runningOn(u.userId);
    const post = async (eventId: string, ts = now()) => {
      const body = JSON.stringify({ type: "event_callback", event_id: eventId, event: { type: "message", channel: "C1", text: "hi" } });
      const sig = `v0=${await hmac(signingSecret, `v0:${ts}:${body}`)}`;
      return call(`/hooks/slack/${agentId}`, {
        rawBody: body,
        headers: { "content-type": "application/json", "x-slack-request-timestamp": String(ts), "x-slack-signature": sig },
      });
    };
    expect((await post("EvReplay1")).body).toEqual({ accepted: true });
    // Without a retry header: the dedupe is by Slack's event id, not by the header a replayer can leave out.
    const replay = await post("EvReplay1", now() - 30);
    expect([replay.status, replay.body]).toEqual([200, { accepted: false, duplicate: true }]);
    expect((await post("EvReplay2")).body).toEqual({ accepted: true });
    expect((await post("EvReplay3", now() - 301)).status).toBe(400); // outside the signed-timestamp window
    expect((await forwardsTo(nodeId)).map((c) => JSON.parse(c.body).event_id)).toEqual(["EvReplay1", "EvReplay2"]);
  });

  it("WhatsApp: a message id is taken in once; a message older than the window is dropped; a new id is taken in", async () => {
    const u = await paidSignup(); // channels need a confirmed address, agents paid access
    const agentId = await agentOf(u);
    const appSecret = "whatsapp-app-secret-replay-0123";
    await call("/api/channels/whatsapp", { body: { accessToken: "EAAG-good-token", phoneNumberId: "1234567890", appSecret }, cookie: u.cookie });
    await runningOn(u.userId);
    const deliver = async (id: string, text: string, timestamp = now()) => {
      const body = JSON.stringify({
        entry: [{ changes: [{ value: { messages: [{ id, timestamp: String(timestamp), from: "15550002222", type: "text", text: { body: text } }] } }] }],
      });
      return call(`/hooks/whatsapp/${agentId}`, {
        rawBody: body,
        headers: { "content-type": "application/json", "x-hub-signature-256": `sha256=${await hmac(appSecret, body)}` },
      });
    };
    expect((await deliver("wamid.A1", "first")).body).toEqual({ accepted: 1 });
    const replay = await deliver("wamid.A1", "first");
    expect([replay.status, replay.body]).toEqual([200, { accepted: 0, duplicates: 1 }]);
    expect((await deliver("wamid.A0", "from last week", now() - 8 * 86_400)).body).toEqual({ accepted: 0 });
    expect((await deliver("wamid.A2", "second")).body).toEqual({ accepted: 1 });
    expect((await inbox(u.userId)).map((r) => r.text)).toEqual(["first", "second"]);
  });

  it("Discord: an interaction id is queued once; a correctly signed but stale timestamp is refused (401)", async () => {
    const u = await paidSignup(); // channels need a confirmed address, agents paid access
    const agentId = await agentOf(u);
    const keys = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    await call("/api/channels/discord", {
      body: { applicationId: "112233445566", publicKey: hex((await crypto.subtle.exportKey("raw", keys.publicKey)) as ArrayBuffer) },
      cookie: u.cookie,
    });
    await runningOn(u.userId);
    const send = async (id: string, ts = now()) => {
      const body = JSON.stringify({
        id,
        type: 2,
        token: `tok-${id}`,
        channel_id: "7",
        data: { name: "ask", options: [{ name: "q", value: `question ${id}` }] },
      });
      const sig = hex(await crypto.subtle.sign("Ed25519", keys.privateKey, new TextEncoder().encode(String(ts) + body)));
      return call(`/hooks/discord/${agentId}`, {
        rawBody: body,
        headers: { "content-type": "application/json", "x-signature-ed25519": sig, "x-signature-timestamp": String(ts) },
      });
    };
    expect((await send("2200000000000000001")).body).toEqual({ type: 5 });
    const replay = await send("2200000000000000001");
    expect([replay.status, replay.body]).toEqual([200, { type: 5 }]);
    const stale = await send("2200000000000000009", now() - 600);
    expect(stale.status).toBe(401);
    expect((await send("2200000000000000002")).body).toEqual({ type: 5 });
    expect((await inbox(u.userId)).map((r) => r.text)).toEqual(["question 2200000000000000001", "question 2200000000000000002"]);
  });

  it("a remembered id expires after its time-to-live (the table does not grow forever)", async () => {
    const u = await paidSignup(); // channels need a confirmed address, agents paid access
    const account = env.USER_AGENT.getByName(u.userId);
    await account.init(u.userId);
    const msg = { kind: "message" as const, text: "ttl", session: "main" };
    expect(await account.deliverOnce("test:ttl", 50, msg)).toEqual({ duplicate: false });
    expect(await account.deliverOnce("test:ttl", 50, msg)).toEqual({ duplicate: true });
    await new Promise((r) => setTimeout(r, 80));
    expect(await account.deliverOnce("test:ttl", 50, msg)).toEqual({ duplicate: false });
    const rows = await runInDurableObject(account, (_o, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM seen_deliveries").one().n);
    expect(rows).toBe(1);
  });
});
