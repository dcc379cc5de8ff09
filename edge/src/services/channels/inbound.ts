import { and, eq } from "drizzle-orm";
import { SLACK_LISTENER, TELEGRAM_LISTENER } from "@oc/contracts/openclaw-config";
import { AppError } from "@oc/contracts/errors";
import { agents, channels } from "@oc/db/schema";
import { fromHex, hmacSha256Hex, sha256Hex, timingSafeEqual } from "@oc/contracts/crypto";
import type { Services } from "../context";
import { userAgent } from "../../clients/user-agent";

/**
 * Inbound channel traffic. Each platform's own signature scheme is checked first; forged or stale requests
 * change nothing. Accepted traffic is handed to the user's Durable Object (which wakes a sleeping agent and
 * keeps the order) and acknowledged at once, so the platform never waits on the agent.
 *
 * Replays: where the platform signs a timestamp (Slack, Discord; WhatsApp's message timestamp is inside the
 * signed body) a delivery older than its window is refused or dropped, and every delivery is taken in at
 * most once by the platform's own id, remembered in the user's Durable Object for longer than that window
 * and the platform's retries. A signed delivery replayed within the window is a duplicate; after it, stale.
 */
export const SLACK_WINDOW_S = 300;
export const DISCORD_WINDOW_S = 300;
/** Meta retries an unacknowledged webhook for up to 7 days, so a message is fresh (and remembered) that long. */
export const WHATSAPP_WINDOW_S = 7 * 86_400;
const HOUR_MS = 3_600_000;
/** Slack retries three times within about an hour; the event id is remembered well past that and its window. */
const SLACK_SEEN_MS = 24 * HOUR_MS;
const DISCORD_SEEN_MS = HOUR_MS;
const WHATSAPP_SEEN_MS = WHATSAPP_WINDOW_S * 1000 + HOUR_MS;
/**
 * Telegram signs no timestamp (the secret token is the proof) and keeps an unconfirmed update for 24 hours.
 * Its update ids restart at random only after a week without updates, so two days never drops a new one.
 */
const TELEGRAM_SEEN_MS = 48 * HOUR_MS;

export type ChannelKind = "telegram" | "slack" | "whatsapp" | "discord";

export interface ChannelCredentials {
  telegram: { botToken: string; webhookSecret: string };
  slack: { botToken: string; signingSecret: string };
  whatsapp: { accessToken: string; phoneNumberId: string; appSecret: string; verifyToken: string };
  /** botToken: optional, for a bot on the Discord gateway through OpenClaw's own plugin (always on). */
  discord: { applicationId: string; publicKey: string; botToken?: string };
}

/** Where a platform delivers for one agent's channel (the `/hooks` routes, hooks.ts). */
export const hookUrl = (s: Services, kind: ChannelKind, agentId: string) => `${s.env.APP_URL}/hooks/${kind}/${agentId}`;

/** Channel credentials are stored AES-256-GCM encrypted (connect.ts writes them), bound to the agent and the kind. */
export const channelContext = (agentId: string, kind: ChannelKind) => `channel:${agentId}:${kind}`;

/** A connected channel's row and its credentials, opened: what every delivery is checked against. */
export async function loadChannel<K extends ChannelKind>(s: Services, agentId: string, kind: K) {
  const [row] = await s.db
    .select()
    .from(channels)
    .where(and(eq(channels.agentId, agentId), eq(channels.kind, kind)));
  if (!row || row.status !== "connected") return undefined;
  return { row, creds: JSON.parse(await s.secrets.decrypt(row.credentialsEnc, channelContext(agentId, kind))) as ChannelCredentials[K] };
}

const fresh = (unixSeconds: number, windowS: number) => Number.isFinite(unixSeconds) && Math.abs(Date.now() / 1000 - unixSeconds) <= windowS;

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
  if (!secret || !timingSafeEqual(await sha256Hex(secret), ch.row.webhookSecretHash ?? ""))
    throw new AppError("UNAUTHORIZED", "Wrong or missing secret token.");
  const userId = await ownerOf(s, agentId);
  if (!userId) return { accepted: false };
  const updateId = (JSON.parse(body) as { update_id?: unknown }).update_id;
  if (!Number.isSafeInteger(updateId)) return { accepted: false };
  // Update ids count per bot: a bot swapped for another must not have its first updates taken for replays.
  const bot = ch.creds.botToken.split(":")[0];
  const { duplicate } = await userAgent(s.env, userId).deliverOnce(`telegram:${bot}:${updateId}`, TELEGRAM_SEEN_MS, {
    kind: "forward",
    channel: "telegram",
    target: { ...TELEGRAM_LISTENER, headers: { "x-telegram-bot-api-secret-token": secret }, body },
  });
  return duplicate ? { accepted: false, duplicate } : { accepted: true };
}

/**
 * Slack Events API: `v0=` HMAC-SHA256 of `v0:<timestamp>:<body>` with the signing secret, timestamp within
 * five minutes (older ones are refused). url_verification is answered here (the agent may be asleep); every
 * event is forwarded once per event_id (a retry, or a replay inside the window, is acknowledged and dropped)
 * and unchanged, signature headers included, to OpenClaw's own Slack listener (HTTP mode), which checks it
 * again and answers in Slack itself.
 */
export async function slackEvent(s: Services, agentId: string, headers: { signature?: string; timestamp?: string }, body: string) {
  const ch = await loadChannel(s, agentId, "slack");
  if (!ch) throw new AppError("NOT_FOUND", "Slack is not connected to this agent.");
  if (!fresh(Number(headers.timestamp), SLACK_WINDOW_S)) throw new AppError("INVALID_SIGNATURE", "Stale or missing Slack timestamp.");
  const expected = `v0=${await hmacSha256Hex(ch.creds.signingSecret, `v0:${headers.timestamp}:${body}`)}`;
  if (!headers.signature || !timingSafeEqual(expected, headers.signature)) throw new AppError("INVALID_SIGNATURE", "Slack signature does not match.");
  const payload = JSON.parse(body) as { type: string; challenge?: string; event_id?: unknown };
  if (payload.type === "url_verification") return { challenge: payload.challenge ?? "" };
  if (payload.type !== "event_callback" || typeof payload.event_id !== "string" || !payload.event_id) return { accepted: false };
  const userId = await ownerOf(s, agentId);
  if (!userId) return { accepted: false };
  // A retry (x-slack-retry-num) of an event that never reached the inbox is taken in; one that did is not.
  const { duplicate } = await userAgent(s.env, userId).deliverOnce(`slack:${payload.event_id}`, SLACK_SEEN_MS, {
    kind: "forward",
    channel: "slack",
    target: {
      ...SLACK_LISTENER,
      headers: { "content-type": "application/json", "x-slack-signature": headers.signature, "x-slack-request-timestamp": String(headers.timestamp) },
      body,
    },
  });
  return duplicate ? { accepted: false, duplicate } : { accepted: true };
}

/** WhatsApp Cloud API subscription check (GET with hub.mode, hub.verify_token, hub.challenge). */
export async function whatsappVerify(s: Services, agentId: string, mode: string | undefined, token: string | undefined, challenge: string | undefined) {
  const ch = await loadChannel(s, agentId, "whatsapp");
  if (!ch || mode !== "subscribe" || !token || !timingSafeEqual(token, ch.creds.verifyToken) || !challenge)
    throw new AppError("FORBIDDEN", "Verification failed.");
  return challenge;
}

/**
 * WhatsApp Cloud API messages: X-Hub-Signature-256 over the raw body with the app secret. The signature has no
 * timestamp of its own, but each message's `timestamp` is inside the signed body: a message older than the
 * window is dropped, a newer one is taken in once per message id.
 */
export async function whatsappWebhook(s: Services, agentId: string, signature: string | undefined, body: string) {
  const ch = await loadChannel(s, agentId, "whatsapp");
  if (!ch) return { accepted: 0 };
  const expected = `sha256=${await hmacSha256Hex(ch.creds.appSecret, body)}`;
  if (!signature || !timingSafeEqual(expected, signature)) throw new AppError("INVALID_SIGNATURE", "X-Hub-Signature-256 does not match.");
  const userId = await ownerOf(s, agentId);
  if (!userId) return { accepted: 0 };
  type Message = { id?: unknown; timestamp?: unknown; from: string; type: string; text?: { body: string } };
  const payload = JSON.parse(body) as { entry?: { changes?: { value?: { messages?: Message[] } }[] }[] };
  const account = userAgent(s.env, userId);
  let accepted = 0;
  let duplicates = 0;
  for (const entry of payload.entry ?? [])
    for (const change of entry.changes ?? [])
      for (const m of change.value?.messages ?? []) {
        if (m.type !== "text" || !m.text?.body || typeof m.id !== "string" || !m.id || !fresh(Number(m.timestamp), WHATSAPP_WINDOW_S)) continue;
        const r = await account.deliverOnce(`whatsapp:${m.id}`, WHATSAPP_SEEN_MS, {
          kind: "message",
          text: m.text.body,
          session: `whatsapp:${m.from}`,
          replyTo: { channel: "whatsapp", to: m.from },
        });
        if (r.duplicate) duplicates++;
        else accepted++;
      }
  return duplicates ? { accepted, duplicates } : { accepted };
}

/**
 * Discord interactions: Ed25519 signature of timestamp + body with the application's public key (Discord
 * requires 401 for a bad one, and a signed timestamp outside the window is treated as one). PING answers
 * PONG; a slash command is deferred ("thinking…") once per interaction id and the agent's answer edits the
 * original response; a replay gets the same deferral and is not queued again.
 */
export async function discordInteraction(s: Services, agentId: string, signature: string | undefined, timestamp: string | undefined, body: string) {
  const ch = await loadChannel(s, agentId, "discord");
  if (!ch) throw new AppError("UNAUTHORIZED", "Discord is not connected to this agent.");
  if (!signature || !timestamp || !(await verifyEd25519(ch.creds.publicKey, signature, timestamp + body)))
    throw new AppError("UNAUTHORIZED", "Invalid request signature.");
  if (!/^\d{1,12}$/.test(timestamp) || !fresh(Number(timestamp), DISCORD_WINDOW_S)) throw new AppError("UNAUTHORIZED", "Stale request timestamp.");
  const i = JSON.parse(body) as {
    id?: unknown;
    type: number;
    token?: string;
    channel_id?: string;
    data?: { name?: string; options?: { name: string; value: unknown }[] };
  };
  if (i.type === 1) return { type: 1 };
  if (i.type !== 2 || !i.token || typeof i.id !== "string" || !i.id) return { type: 4, data: { content: "This interaction is not supported.", flags: 64 } };
  const text = i.data?.options?.map((o) => String(o.value)).join(" ") || i.data?.name || "";
  const userId = await ownerOf(s, agentId);
  if (!userId) return { type: 4, data: { content: "This agent no longer exists.", flags: 64 } };
  await userAgent(s.env, userId).deliverOnce(`discord:${i.id}`, DISCORD_SEEN_MS, {
    kind: "message",
    text,
    session: `discord:${i.channel_id ?? "dm"}`,
    replyTo: { channel: "discord", to: i.token },
  });
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
