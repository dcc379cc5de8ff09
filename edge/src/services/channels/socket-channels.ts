import { and, eq } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { channels } from "@oc/db/schema";
import { newId } from "@oc/contracts/ids";
import { audit } from "../audit";
import type { RequestMeta, Services } from "../context";
import { callNode } from "../node-call";
import { applyAgentConfig } from "../agent-config";
import { ensureAgent } from "../proxy-keys";
import { discordBotSettings } from "./connect";
import { requirePaid, requireVerified } from "../entitlement";
import { userAgent } from "../../clients/user-agent";

/**
 * Channels that hold a live connection inside the container, through OpenClaw's own plugins: a Discord bot
 * (its token comes with the Discord connection, connect.ts) and WhatsApp Web. A sleeping container would go
 * deaf, so the agent is kept awake (always on) while any of them is connected.
 *
 * WhatsApp Web through OpenClaw's own plugin: the owner links their phone by scanning a QR code that the
 * agent's gateway produces (`web.login.start`), relayed to the dashboard. The link is a live socket inside
 * the container, so the agent is kept awake (always on) while it is connected; its credentials stay in the
 * agent's state dir (and its S3 archive), never at the edge.
 */
const SLOW = 70_000; // the CLI call inside the container, plus WhatsApp's own answer

export async function whatsappWebConnected(s: Services, agentId: string): Promise<boolean> {
  const [row] = await s.db
    .select({ status: channels.status })
    .from(channels)
    .where(and(eq(channels.agentId, agentId), eq(channels.kind, "whatsapp_web")));
  return row?.status === "connected";
}

/**
 * Always on while any socket channel is connected (off again after the last one), and the agent's config
 * re-applied (a running agent restarts with it). Returns whether it reached a running agent.
 */
export async function applySocketChannels(s: Services, userId: string, meta: RequestMeta): Promise<boolean> {
  const agentId = await ensureAgent(s, userId);
  const socket = (await whatsappWebConnected(s, agentId)) || Boolean(await discordBotSettings(s, agentId));
  await userAgent(s.env, userId).setAlwaysOn(socket);
  return applyAgentConfig(s, userId, meta);
}

/** Turns the plugin on in the agent's config (it restarts with it) and keeps the agent awake for the socket. */
export async function connectWhatsAppWeb(s: Services, userId: string, meta: RequestMeta) {
  await requireVerified(s, userId, "connect chat channels");
  await requirePaid(s, userId, "WhatsApp Web (it keeps your agent always on)");
  const agentId = await ensureAgent(s, userId);
  const credentialsEnc = await s.secrets.encrypt("{}", `channel:${agentId}:whatsapp_web`); // nothing secret lives here
  await s.db
    .insert(channels)
    .values({ id: newId("chn"), agentId, kind: "whatsapp_web", credentialsEnc, status: "connected" })
    .onConflictDoUpdate({ target: [channels.agentId, channels.kind], set: { status: "connected", updatedAt: new Date() } });
  const appliedToAgent = await applySocketChannels(s, userId, meta);
  audit(s, meta, userId, "channel.connected", { kind: "whatsapp_web" });
  return { kind: "whatsapp_web" as const, appliedToAgent, next: "Scan the QR code with WhatsApp on your phone (Settings → Linked devices → Link a device)." };
}

async function requireConnected(s: Services, userId: string) {
  if (!(await whatsappWebConnected(s, await ensureAgent(s, userId))))
    throw new AppError("CONFLICT", "Connect WhatsApp (QR) first: your agent needs the WhatsApp plugin turned on.");
}

/** A fresh QR code from the agent's gateway. */
export async function whatsappQr(s: Services, userId: string) {
  await requireConnected(s, userId);
  const r = await callNode<{ qrDataUrl?: string; sessionKey?: string; message?: string }>(
    s,
    userId,
    { kind: "channelLogin", userId, channel: "whatsapp", op: "start" },
    SLOW,
  );
  if (!r.qrDataUrl) throw new AppError("UPSTREAM_ERROR", `WhatsApp did not give a QR code: ${r.message ?? "no answer"}. Please try again in a minute.`);
  return { qrDataUrl: r.qrDataUrl, sessionKey: r.sessionKey ?? null, message: r.message ?? null };
}

/** Waits (up to ~25 s) for the phone to scan the code; the page calls it again until linked. */
export async function whatsappWait(s: Services, userId: string, sessionKey?: string) {
  await requireConnected(s, userId);
  const r = await callNode<{ connected?: boolean; message?: string }>(
    s,
    userId,
    { kind: "channelLogin", userId, channel: "whatsapp", op: "wait", sessionKey },
    SLOW,
  );
  if (r.connected) audit(s, { ip: null, userAgent: null }, userId, "channel.linked", { kind: "whatsapp_web" });
  return { connected: r.connected === true, message: r.message ?? null };
}

/** Turns the plugin off again (the agent restarts without it); with no socket channel left it may sleep again. */
export async function disconnectWhatsAppWeb(s: Services, userId: string, meta: RequestMeta) {
  const agentId = await ensureAgent(s, userId);
  await s.db
    .update(channels)
    .set({ status: "disconnected", updatedAt: new Date() })
    .where(and(eq(channels.agentId, agentId), eq(channels.kind, "whatsapp_web")));
  await applySocketChannels(s, userId, meta);
  audit(s, meta, userId, "channel.disconnected", { kind: "whatsapp_web" });
}
