import { newApp } from "./app";
import { limitBody } from "./middleware/body";
import { init } from "./middleware/init";
import { requestId } from "./middleware/request-id";
import { discordInteraction, slackEvent, telegramUpdate, whatsappVerify, whatsappWebhook } from "./services/channels/inbound";

/**
 * /hooks: where chat platforms deliver (Telegram, Slack, WhatsApp Cloud API, Discord interactions). Each
 * route reads the raw body (signatures cover the exact bytes), verifies, hands over and answers at once.
 */
export const hooks = newApp("/hooks");
hooks.use(requestId(), init(), limitBody(1024 * 1024));

hooks.post("/telegram/:agentId", async (c) => {
  const r = await telegramUpdate(c.get("services"), c.req.param("agentId"), c.req.header("x-telegram-bot-api-secret-token"), await c.req.text());
  return c.json({ ok: true, ...r }, 200);
});

hooks.post("/slack/:agentId", async (c) => {
  const r = await slackEvent(
    c.get("services"),
    c.req.param("agentId"),
    { signature: c.req.header("x-slack-signature"), timestamp: c.req.header("x-slack-request-timestamp") },
    await c.req.text(),
  );
  return c.json(r, 200);
});

hooks.get("/whatsapp/:agentId", async (c) =>
  c.text(
    await whatsappVerify(c.get("services"), c.req.param("agentId"), c.req.query("hub.mode"), c.req.query("hub.verify_token"), c.req.query("hub.challenge")),
    200,
  ),
);
hooks.post("/whatsapp/:agentId", async (c) =>
  c.json(await whatsappWebhook(c.get("services"), c.req.param("agentId"), c.req.header("x-hub-signature-256"), await c.req.text()), 200),
);

hooks.post("/discord/:agentId", async (c) =>
  c.json(
    await discordInteraction(
      c.get("services"),
      c.req.param("agentId"),
      c.req.header("x-signature-ed25519"),
      c.req.header("x-signature-timestamp"),
      await c.req.text(),
    ),
    200,
  ),
);
