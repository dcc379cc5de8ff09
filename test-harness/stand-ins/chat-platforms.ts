import { serve } from "./http.ts";

/**
 * Answers the chat platforms' HTTP API routes the platform calls, under one prefix each:
 * /telegram/bot<token>/{getMe,setWebhook,deleteWebhook}, /slack/auth.test,
 * /graph/<phone-number-id>[/messages] (WhatsApp Cloud API), /discord/webhooks/<app>/<token>/messages/@original, /discord/users/@me.
 * Everything received is readable at GET /_received. Tokens containing "bad" are refused.
 */
export async function startChatStandIn(port: number) {
  const received: { method: string; path: string; auth: string | undefined; body: any }[] = [];
  return serve(port, (req, raw, url) => {
    if (url.pathname === "/_received") return { status: 200, json: received };
    const body = raw ? JSON.parse(raw) : undefined;
    received.push({ method: req.method!, path: url.pathname, auth: req.headers.authorization, body });
    const p = url.pathname;
    let m: RegExpMatchArray | null;
    if ((m = p.match(/^\/telegram\/bot([^/]+)\/(\w+)$/))) {
      if (m[1]!.includes("bad")) return { status: 401, json: { ok: false, error_code: 401, description: "Unauthorized" } };
      if (m[2] === "getMe") return { status: 200, json: { ok: true, result: { id: 1, is_bot: true, username: "stand_in_bot" } } };
      if (m[2] === "setWebhook" || m[2] === "deleteWebhook") return { status: 200, json: { ok: true, result: true } };
    }
    const bearer = req.headers.authorization ?? "";
    if (p === "/slack/auth.test")
      return { status: 200, json: bearer.includes("bad") ? { ok: false, error: "invalid_auth" } : { ok: true, team: "Stand-in team" } };
    if ((m = p.match(/^\/graph\/(\d+)$/)))
      return bearer.includes("bad")
        ? { status: 401, json: { error: { message: "Invalid OAuth access token." } } }
        : { status: 200, json: { id: m[1], display_phone_number: "+1 555 0100" } };
    if (p.match(/^\/graph\/\d+\/messages$/)) return { status: 200, json: { messaging_product: "whatsapp", messages: [{ id: "wamid.x" }] } };
    // Discord: a bot token is checked with GET /users/@me (Authorization: Bot <token>).
    if (p === "/discord/users/@me")
      return bearer.startsWith("Bot ") && !bearer.includes("bad")
        ? { status: 200, json: { id: "42", username: "stand-in-bot", bot: true } }
        : { status: 401, json: { message: "401: Unauthorized", code: 0 } };
    if (p.match(/^\/discord\/webhooks\/\d+\/[^/]+\/messages\/@original$/)) return { status: 200, json: { id: "1" } };
    return { status: 404, json: { error: "no such route" } };
  });
}
