import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../app";
import { errorResponses } from "../errors";
import { requireUser } from "../middleware/auth";
import {
  connectDiscord,
  connectSlack,
  connectTelegram,
  connectWhatsApp,
  disconnectChannel,
  listChannels,
  syncBridge,
  type ChannelKind,
} from "../services/channels/connect";
import { applySocketChannels, connectWhatsAppWeb, disconnectWhatsAppWeb, whatsappQr, whatsappWait } from "../services/channels/socket-channels";
import { applyAgentConfig } from "../services/agent-config";
import { body, json, ok } from "./schemas";

/** Channel Manager: connect and disconnect Telegram, Slack, WhatsApp (Cloud API or QR-linked WhatsApp Web) and Discord. */
const auth = [requireUser()];
const connected = json(z.record(z.string(), z.unknown()));

const routes = {
  list: createRoute({
    method: "get",
    path: "/channels",
    tags: ["channels"],
    middleware: auth,
    responses: {
      200: json(
        z.object({
          channels: z.array(
            z.object({ kind: z.string(), connected: z.boolean(), since: z.string().nullable(), webhookUrl: z.string().nullable(), wake: z.string() }),
          ),
        }),
      ),
      ...errorResponses,
    },
  }),
  telegram: createRoute({
    method: "post",
    path: "/channels/telegram",
    tags: ["channels"],
    middleware: auth,
    description: "Connects a Telegram bot (token from @BotFather): the edge becomes its webhook and the agent's config gets the bot.",
    request: body(z.object({ botToken: z.string().min(10).max(200) })),
    responses: { 200: connected, ...errorResponses },
  }),
  slack: createRoute({
    method: "post",
    path: "/channels/slack",
    tags: ["channels"],
    middleware: auth,
    request: body(z.object({ botToken: z.string().startsWith("xoxb-").max(300), signingSecret: z.string().min(16).max(200) })),
    responses: { 200: connected, ...errorResponses },
  }),
  whatsapp: createRoute({
    method: "post",
    path: "/channels/whatsapp",
    tags: ["channels"],
    middleware: auth,
    request: body(
      z.object({ accessToken: z.string().min(10).max(1000), phoneNumberId: z.string().regex(/^\d{5,30}$/), appSecret: z.string().min(16).max(200) }),
    ),
    responses: { 200: connected, ...errorResponses },
  }),
  discord: createRoute({
    method: "post",
    path: "/channels/discord",
    tags: ["channels"],
    middleware: auth,
    description:
      "Connects Discord interactions (slash commands, through the edge) and, with a bot token, a bot on Discord's gateway inside the agent (kept awake).",
    request: body(z.object({ applicationId: z.string().regex(/^\d{5,30}$/), publicKey: z.string().max(64), botToken: z.string().max(200).optional() })),
    responses: { 200: connected, ...errorResponses },
  }),
  whatsappWeb: createRoute({
    method: "post",
    path: "/channels/whatsapp_web",
    tags: ["channels"],
    middleware: auth,
    description: "Turns on OpenClaw's WhatsApp Web plugin (QR login); the agent restarts with it and stays awake while linked.",
    responses: { 200: connected, ...errorResponses },
  }),
  whatsappQr: createRoute({
    method: "post",
    path: "/channels/whatsapp_web/qr",
    tags: ["channels"],
    middleware: auth,
    description: "A QR code (PNG data URL) from the agent's gateway, to scan with WhatsApp → Linked devices.",
    responses: { 200: json(z.object({ qrDataUrl: z.string(), sessionKey: z.string().nullable(), message: z.string().nullable() })), ...errorResponses },
  }),
  whatsappWait: createRoute({
    method: "post",
    path: "/channels/whatsapp_web/wait",
    tags: ["channels"],
    middleware: auth,
    description: "Waits up to ~25 s for the phone to scan the code; call again until connected.",
    request: body(z.object({ sessionKey: z.string().max(500).nullable().optional() })),
    responses: { 200: json(z.object({ connected: z.boolean(), message: z.string().nullable() })), ...errorResponses },
  }),
  disconnect: createRoute({
    method: "delete",
    path: "/channels/{kind}",
    tags: ["channels"],
    middleware: auth,
    request: { params: z.object({ kind: z.enum(["telegram", "slack", "whatsapp", "whatsapp_web", "discord"]) }) },
    responses: { 200: json(ok), ...errorResponses },
  }),
};

export function registerChannelRoutes(app: App) {
  app.openapi(routes.list, async (c) => c.json({ channels: await listChannels(c.get("services"), c.get("user").id) }, 200));
  // Telegram lives in the agent's config: a running agent restarts on it (applyAgentConfig re-applies the spec).
  app.openapi(routes.telegram, async (c) => {
    const s = c.get("services");
    const r = await connectTelegram(s, c.get("user").id, c.req.valid("json").botToken, c.get("meta"));
    const appliedToAgent = await applyAgentConfig(s, c.get("user").id, c.get("meta"));
    return c.json({ ...r, appliedToAgent }, 200);
  });
  // Slack (HTTP mode) lives in the agent's config too.
  app.openapi(routes.slack, async (c) => {
    const s = c.get("services");
    const r = await connectSlack(s, c.get("user").id, c.req.valid("json"), c.get("meta"));
    const appliedToAgent = await applyAgentConfig(s, c.get("user").id, c.get("meta"));
    return c.json({ ...r, appliedToAgent }, 200);
  });
  // Bridged channels only need the reply credentials in the user's Durable Object.
  app.openapi(routes.whatsapp, async (c) => {
    const r = await connectWhatsApp(c.get("services"), c.get("user").id, c.req.valid("json"), c.get("meta"));
    await syncBridge(c.get("services"), c.get("user").id);
    return c.json(r, 200);
  });
  app.openapi(routes.discord, async (c) => {
    const s = c.get("services");
    const input = c.req.valid("json");
    const { botChanged, ...r } = await connectDiscord(s, c.get("user").id, { ...input, botToken: input.botToken || undefined }, c.get("meta"));
    await syncBridge(s, c.get("user").id);
    // A bot lives in the agent's config and needs its live socket: the agent restarts with it and stays awake.
    const appliedToAgent = botChanged ? await applySocketChannels(s, c.get("user").id, c.get("meta")) : false;
    return c.json({ ...r, appliedToAgent }, 200);
  });
  app.openapi(routes.whatsappWeb, async (c) => c.json(await connectWhatsAppWeb(c.get("services"), c.get("user").id, c.get("meta")), 200));
  app.openapi(routes.whatsappQr, async (c) => c.json(await whatsappQr(c.get("services"), c.get("user").id), 200));
  app.openapi(routes.whatsappWait, async (c) =>
    c.json(await whatsappWait(c.get("services"), c.get("user").id, c.req.valid("json").sessionKey ?? undefined), 200),
  );
  app.openapi(routes.disconnect, async (c) => {
    const s = c.get("services");
    if (c.req.valid("param").kind === "whatsapp_web") {
      await disconnectWhatsAppWeb(s, c.get("user").id, c.get("meta"));
      return c.json({ ok: true as const }, 200);
    }
    const kind = c.req.valid("param").kind as ChannelKind;
    const { hadBot } = await disconnectChannel(s, c.get("user").id, kind, c.get("meta"));
    if (kind === "telegram" || kind === "slack") await applyAgentConfig(s, c.get("user").id, c.get("meta"));
    else await syncBridge(s, c.get("user").id);
    if (hadBot) await applySocketChannels(s, c.get("user").id, c.get("meta"));
    return c.json({ ok: true as const }, 200);
  });
}
