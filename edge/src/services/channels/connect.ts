import { and, eq } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { channels } from "@oc/db/schema";
import { newId } from "@oc/contracts/ids";
import { randomToken, sha256Hex } from "@oc/contracts/crypto";
import { audit } from "../audit";
import type { RequestMeta, Services } from "../context";
import { ensureAgent } from "../proxy-keys";
import { requirePaid, requireVerified } from "../entitlement";
import { userAgent } from "../../clients/user-agent";
import { channelContext, hookUrl, loadChannel, type ChannelCredentials, type ChannelKind } from "./inbound";

/**
 * The Channel Manager. Telegram (webhook mode) and Slack (HTTP mode) run natively in OpenClaw: the edge
 * verifies each delivery and forwards it to the container's own listener. WhatsApp (Cloud API) and Discord
 * interactions are bridged: the edge verifies and turns each message into an agent message, and the reply
 * goes back through the platform's API. Credentials are stored AES-256-GCM encrypted.
 */
export type { ChannelCredentials, ChannelKind };

async function save<K extends ChannelKind>(s: Services, agentId: string, kind: K, creds: ChannelCredentials[K], secretHash: string | null) {
  const credentialsEnc = await s.secrets.encrypt(JSON.stringify(creds), channelContext(agentId, kind));
  await s.db
    .insert(channels)
    .values({ id: newId("chn"), agentId, kind, credentialsEnc, webhookSecretHash: secretHash, status: "connected" })
    .onConflictDoUpdate({
      target: [channels.agentId, channels.kind],
      set: { credentialsEnc, webhookSecretHash: secretHash, status: "connected", updatedAt: new Date() },
    });
}

/** Calls an official HTTP API and returns its JSON; `what` names it in the error the user sees. */
async function callApi(what: string, url: string, init: RequestInit): Promise<any> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  } catch {
    throw new AppError("UPSTREAM_ERROR", `${what} could not be reached. Please try again.`);
  }
  const json = (await res.json().catch(() => ({}))) as any;
  return { status: res.status, json };
}

export async function connectTelegram(s: Services, userId: string, botToken: string, meta: RequestMeta) {
  await requireVerified(s, userId, "connect chat channels");
  if (!/^\d+:[\w-]{20,}$/.test(botToken))
    throw new AppError("VALIDATION_FAILED", "That does not look like a Telegram bot token (it looks like 123456:ABC…, from @BotFather).");
  const agentId = await ensureAgent(s, userId);
  const api = `${s.env.TELEGRAM_API_BASE}/bot${botToken}`;
  const me = await callApi("Telegram", `${api}/getMe`, {});
  if (!me.json.ok) throw new AppError("VALIDATION_FAILED", "Telegram did not accept this bot token. Copy it again from @BotFather.");
  const webhookSecret = randomToken(24);
  const set = await callApi("Telegram", `${api}/setWebhook`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ url: hookUrl(s, "telegram", agentId), secret_token: webhookSecret, drop_pending_updates: false }),
  });
  if (!set.json.ok) throw new AppError("UPSTREAM_ERROR", `Telegram refused the webhook: ${set.json.description ?? set.status}`);
  await save(s, agentId, "telegram", { botToken, webhookSecret }, await sha256Hex(webhookSecret));
  audit(s, meta, userId, "channel.connected", { kind: "telegram" });
  return { kind: "telegram" as const, bot: `@${me.json.result?.username ?? "bot"}` };
}

export async function connectSlack(s: Services, userId: string, creds: ChannelCredentials["slack"], meta: RequestMeta) {
  await requireVerified(s, userId, "connect chat channels");
  const agentId = await ensureAgent(s, userId);
  const auth = await callApi("Slack", `${s.env.SLACK_API_BASE}/auth.test`, { method: "POST", headers: { authorization: `Bearer ${creds.botToken}` } });
  if (!auth.json.ok) throw new AppError("VALIDATION_FAILED", `Slack did not accept this bot token (${auth.json.error ?? auth.status}).`);
  await save(s, agentId, "slack", creds, null);
  audit(s, meta, userId, "channel.connected", { kind: "slack" });
  return { kind: "slack" as const, requestUrl: hookUrl(s, "slack", agentId), team: auth.json.team ?? null };
}

export async function connectWhatsApp(s: Services, userId: string, creds: Omit<ChannelCredentials["whatsapp"], "verifyToken">, meta: RequestMeta) {
  await requireVerified(s, userId, "connect chat channels");
  const agentId = await ensureAgent(s, userId);
  const phone = await callApi("WhatsApp", `${s.env.WHATSAPP_API_BASE}/${creds.phoneNumberId}`, { headers: { authorization: `Bearer ${creds.accessToken}` } });
  if (phone.status !== 200)
    throw new AppError("VALIDATION_FAILED", `WhatsApp did not accept these credentials (${phone.json.error?.message ?? phone.status}).`);
  const verifyToken = randomToken(18);
  await save(s, agentId, "whatsapp", { ...creds, verifyToken }, null);
  audit(s, meta, userId, "channel.connected", { kind: "whatsapp" });
  return { kind: "whatsapp" as const, callbackUrl: hookUrl(s, "whatsapp", agentId), verifyToken, number: phone.json.display_phone_number ?? null };
}

export async function connectDiscord(s: Services, userId: string, creds: ChannelCredentials["discord"], meta: RequestMeta) {
  if (!/^[0-9a-f]{64}$/i.test(creds.publicKey))
    throw new AppError("VALIDATION_FAILED", "The Discord public key is the 64-character hex key on your application's General Information page.");
  await requireVerified(s, userId, "connect chat channels");
  // A bot holds a live socket, so the agent is kept always on: paid work.
  if (creds.botToken) await requirePaid(s, userId, "A Discord bot (it keeps your agent always on)");
  const agentId = await ensureAgent(s, userId);
  const before = (await discordBotSettings(s, agentId))?.token;
  let bot: string | null = null;
  if (creds.botToken) {
    const me = await callApi("Discord", `${s.env.DISCORD_API_BASE}/users/@me`, { headers: { authorization: `Bot ${creds.botToken}` } });
    if (me.status !== 200 || !me.json.bot)
      throw new AppError("VALIDATION_FAILED", "Discord did not accept this bot token. Copy it again from your app's Bot page (Reset Token).");
    bot = me.json.username ?? null;
  }
  await save(s, agentId, "discord", creds, null);
  audit(s, meta, userId, "channel.connected", { kind: "discord", bot: Boolean(bot) });
  // Only a bot (added, changed or removed) lives in the agent's config; interactions alone do not.
  return { kind: "discord" as const, interactionsUrl: hookUrl(s, "discord", agentId), bot, botChanged: before !== creds.botToken };
}

/** The Discord bot part of the agent's config (whether a bot is connected, and which). */
export async function discordBotSettings(s: Services, agentId: string) {
  const d = await loadChannel(s, agentId, "discord");
  return d?.creds.botToken ? { token: d.creds.botToken } : undefined;
}

export async function disconnectChannel(s: Services, userId: string, kind: ChannelKind, meta: RequestMeta) {
  const agentId = await ensureAgent(s, userId);
  const current = await loadChannel(s, agentId, kind);
  if (!current) throw new AppError("NOT_FOUND", `${kind} is not connected.`);
  if (kind === "telegram") {
    const tg = current.creds as ChannelCredentials["telegram"];
    await callApi("Telegram", `${s.env.TELEGRAM_API_BASE}/bot${tg.botToken}/deleteWebhook`, { method: "POST" }).catch(() => undefined);
  }
  await s.db
    .update(channels)
    .set({ status: "disconnected", updatedAt: new Date() })
    .where(and(eq(channels.agentId, agentId), eq(channels.kind, kind)));
  audit(s, meta, userId, "channel.disconnected", { kind });
  return { hadBot: kind === "discord" && Boolean((current.creds as ChannelCredentials["discord"]).botToken) };
}

/** What the Channel Manager page shows, including the policy for each kind (who keeps the agent awake). */
export async function listChannels(s: Services, userId: string) {
  const agentId = await ensureAgent(s, userId);
  const rows = await s.db
    .select({ kind: channels.kind, status: channels.status, updatedAt: channels.updatedAt })
    .from(channels)
    .where(eq(channels.agentId, agentId));
  return (["telegram", "slack", "whatsapp", "whatsapp_web", "discord"] as const).map((kind) => {
    const row = rows.find((r) => r.kind === kind);
    return {
      kind,
      connected: row?.status === "connected",
      since: row?.status === "connected" ? row.updatedAt.toISOString() : null,
      webhookUrl: kind === "whatsapp_web" ? null : hookUrl(s, kind, agentId),
      wake: WAKE_POLICY[kind],
    };
  });
}

/** How each channel reaches a sleeping agent (shown on the Channel Manager page). */
export const WAKE_POLICY: Record<ChannelKind | "whatsapp_web", string> = {
  telegram: "Webhook: a message wakes your agent (first reply after a few seconds when it was asleep).",
  slack: "Events API over HTTP: a message wakes your agent, which answers in Slack itself.",
  whatsapp: "WhatsApp Cloud API webhook: a message wakes your agent.",
  whatsapp_web:
    "Your own number, linked by QR code. WhatsApp Web is a live connection, so your agent stays awake while it is linked (always on: your plan's memory stays in use around the clock; tokens are only spent on messages).",
  discord:
    "Slash commands (interactions) wake your agent. With a bot token your agent also reads messages as a bot on Discord's live gateway, so it stays awake while connected (always on).",
};

/** The bridged channels' reply credentials, sealed for the user's Durable Object. */
export async function syncBridge(s: Services, userId: string) {
  const agentId = await ensureAgent(s, userId);
  const [whatsapp, discord] = await Promise.all([loadChannel(s, agentId, "whatsapp"), loadChannel(s, agentId, "discord")]);
  const bridge = {
    whatsapp: whatsapp ? { accessToken: whatsapp.creds.accessToken, phoneNumberId: whatsapp.creds.phoneNumberId } : undefined,
    discord: discord ? { applicationId: discord.creds.applicationId } : undefined,
  };
  await userAgent(s.env, userId).setBridge(await s.secrets.encrypt(JSON.stringify(bridge), `bridge:${userId}`));
}

/**
 * Removes every channel of the user's agent (rows and credentials), best-effort telling Telegram to stop
 * calling the webhook, and clears the bridged reply credentials and "always on" the channels needed. Used
 * when an account's earlier holder is purged and when an account is deleted. Returns how many were removed.
 */
export async function removeAllChannels(s: Services, userId: string): Promise<number> {
  const agentId = await ensureAgent(s, userId);
  const tg = await loadChannel(s, agentId, "telegram").catch(() => undefined);
  if (tg) await callApi("Telegram", `${s.env.TELEGRAM_API_BASE}/bot${tg.creds.botToken}/deleteWebhook`, { method: "POST" }).catch(() => undefined);
  const removed = await s.db.delete(channels).where(eq(channels.agentId, agentId)).returning({ kind: channels.kind });
  const account = userAgent(s.env, userId);
  await account.setBridge(null);
  await account.setAlwaysOn(false);
  return removed.length;
}
