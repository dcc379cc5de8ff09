import { eq } from "drizzle-orm";
import { SLACK_LISTENER, TELEGRAM_LISTENER } from "../../../../contracts/src/openclaw-config";
import { AppError } from "../../../../contracts/src/errors";
import { agents } from "../../db/schema";
import { fromHex, hmacSha256Hex, sha256Hex, timingSafeEqual } from "../../lib/crypto";
import type { Services } from "../context";
import { loadChannel } from "./connect";

/**
 * Inbound channel traffic. Each platform's own signature scheme is checked first; forged or stale requests
 * change nothing. Accepted traffic is handed to the user's Durable Object (which wakes a sleeping agent and
 * keeps the order) and acknowledged at once, so the platform never waits on the agent.
 */
export const SLACK_WINDOW_S = 300;

async function ownerOf(s: Services, agentId: string) {
  const [row] = await s.db.select({ userId: agents.userId }).from(agents).where(eq(agents.id, agentId));
  return row?.userId;
}


/**
 * Telegram (webhook mode): the secret token header must match the one set with setWebhook. An update for a
 * channel that is not connected any more is acknowledged and dropped, so Telegram stops retrying it.
 */
export async function telegramUpdate(s: Services, agentId: string, secret: string | undefined, body: string) {
  const ch = await loadChannel(s, agentId, "telegram");
  if (!ch) return { accepted: false };
  if (!secret || !timingSafeEqual(await sha256Hex(secret), ch.row.webhookSecretHash ?? "")) throw new AppError("UNAUTHORIZED", "Wrong or missing secret token.");
  const userId = await ownerOf(s, agentId);
  if (!userId) return { accepted: false };
  await s.env.USER_AGENT.getByName(userId).forwardUpdate("telegram", { ...TELEGRAM_LISTENER, headers: { "x-telegram-bot-api-secret-token": secret }, body });
  return { accepted: true };
}

/**
 * Slack Events API: `v0=` HMAC-SHA256 of `v0:<timestamp>:<body>` with the signing secret, timestamp within
 * five minutes (replays are refused). url_verification is answered here (the agent may be asleep); every
 * event is forwarded unchanged, signature headers included, to OpenClaw's own Slack listener (HTTP mode),
 * which checks it again and answers in Slack itself.
 */
export async function slackEvent(s: Services, agentId: string, headers: { signature?: string; timestamp?: string; retry?: string }, body: string) {
  const ch = await loadChannel(s, agentId, "slack");
  if (!ch) throw new AppError("NOT_FOUND", "Slack is not connected to this agent.");
  const ts = Number(headers.timestamp);
  if (!Number.isFinite(ts) || Math.abs(Date.now() / 1000 - ts) > SLACK_WINDOW_S) throw new AppError("INVALID_SIGNATURE", "Stale or missing Slack timestamp.");
  const expected = `v0=${await hmacSha256Hex(ch.creds.signingSecret, `v0:${headers.timestamp}:${body}`)}`;
  if (!headers.signature || !timingSafeEqual(expected, headers.signature)) throw new AppError("INVALID_SIGNATURE", "Slack signature does not match.");
  const payload = JSON.parse(body) as { type: string; challenge?: string };
  if (payload.type === "url_verification") return { challenge: payload.challenge ?? "" };
  // Slack retries a delivery it thinks timed out; the first one was already queued for the agent.
  if (headers.retry || payload.type !== "event_callback") return { accepted: false };
  const userId = await ownerOf(s, agentId);
  if (!userId) return { accepted: false };
  await s.env.USER_AGENT.getByName(userId).forwardUpdate("slack", {
    ...SLACK_LISTENER,
    headers: { "content-type": "application/json", "x-slack-signature": headers.signature, "x-slack-request-timestamp": String(headers.timestamp) },
    body,
  });
  return { accepted: true };
}

/** WhatsApp Cloud API subscription check (GET with hub.mode, hub.verify_token, hub.challenge). */
export async function whatsappVerify(s: Services, agentId: string, mode: string | undefined, token: string | undefined, challenge: string | undefined) {
  const ch = await loadChannel(s, agentId, "whatsapp");
  if (!ch || mode !== "subscribe" || !token || !timingSafeEqual(token, ch.creds.verifyToken) || !challenge) throw new AppError("FORBIDDEN", "Verification failed.");
  return challenge;
}

/** WhatsApp Cloud API messages: X-Hub-Signature-256 over the raw body with the app secret. */
export async function whatsappWebhook(s: Services, agentId: string, signature: string | undefined, body: string) {
  const ch = await loadChannel(s, agentId, "whatsapp");
  if (!ch) return { accepted: 0 };
  const expected = `sha256=${await hmacSha256Hex(ch.creds.appSecret, body)}`;
  if (!signature || !timingSafeEqual(expected, signature)) throw new AppError("INVALID_SIGNATURE", "X-Hub-Signature-256 does not match.");
  const userId = await ownerOf(s, agentId);
  if (!userId) return { accepted: 0 };
  const payload = JSON.parse(body) as { entry?: { changes?: { value?: { messages?: { from: string; type: string; text?: { body: string } }[] } }[] }[] };
  const account = s.env.USER_AGENT.getByName(userId);
  let accepted = 0;
  for (const entry of payload.entry ?? [])
    for (const change of entry.changes ?? [])
      for (const m of change.value?.messages ?? [])
        if (m.type === "text" && m.text?.body) {
          await account.sendMessage(m.text.body, `whatsapp:${m.from}`, { channel: "whatsapp", to: m.from });
          accepted++;
        }
  return { accepted };
}

/**
 * Discord interactions: Ed25519 signature of timestamp + body with the application's public key (Discord
 * requires 401 for a bad one). PING answers PONG; a slash command is deferred ("thinking…") and the agent's
 * answer edits the original response.
 */
export async function discordInteraction(s: Services, agentId: string, signature: string | undefined, timestamp: string | undefined, body: string) {
  const ch = await loadChannel(s, agentId, "discord");
  if (!ch) throw new AppError("UNAUTHORIZED", "Discord is not connected to this agent.");
  if (!signature || !timestamp || !(await verifyEd25519(ch.creds.publicKey, signature, timestamp + body))) throw new AppError("UNAUTHORIZED", "Invalid request signature.");
  const i = JSON.parse(body) as { type: number; token?: string; channel_id?: string; data?: { name?: string; options?: { name: string; value: unknown }[] } };
  if (i.type === 1) return { type: 1 };
  if (i.type !== 2 || !i.token) return { type: 4, data: { content: "This interaction is not supported.", flags: 64 } };
  const text = i.data?.options?.map((o) => String(o.value)).join(" ") || i.data?.name || "";
  const userId = await ownerOf(s, agentId);
  if (!userId) return { type: 4, data: { content: "This agent no longer exists.", flags: 64 } };
  await s.env.USER_AGENT.getByName(userId).sendMessage(text, `discord:${i.channel_id ?? "dm"}`, { channel: "discord", to: i.token });
  return { type: 5 };
}

async function verifyEd25519(publicKeyHex: string, signatureHex: string, message: string): Promise<boolean> {
  if (!/^[0-9a-f]{128}$/i.test(signatureHex)) return false;
  try {
    const key = await crypto.subtle.importKey("raw", fromHex(publicKeyHex), { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify("Ed25519", key, fromHex(signatureHex), new TextEncoder().encode(message));
  } catch {
    return false;
  }
}
