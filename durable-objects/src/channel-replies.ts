import { SecretBox } from "@oc/contracts/crypto";
import type { ReplyTarget } from "@oc/contracts/agent";
import type { ReplyEnv } from "./env";

export type { ReplyEnv };

/** Credentials of a bridged channel, as the edge stored them (sealed) in the user's object. */
export interface BridgeCredentials {
  whatsapp?: { accessToken: string; phoneNumberId: string };
  discord?: { applicationId: string };
}

/**
 * Sends the agent's answer back to the chat it came from, through each platform's own HTTP API: the
 * WhatsApp Cloud API's /messages, a Discord interaction follow-up. (Slack answers from OpenClaw itself.) Base URLs come
 * from the env so tests answer on loopback.
 */
export async function sendReply(env: ReplyEnv, creds: BridgeCredentials, to: ReplyTarget, text: string): Promise<void> {
  const body = text.slice(0, 3900) || "(no answer)";
  let res: Response;
  if (to.channel === "whatsapp") {
    if (!creds.whatsapp) throw new Error("WhatsApp is not connected");
    res = await fetch(`${env.WHATSAPP_API_BASE ?? "https://graph.facebook.com/v21.0"}/${creds.whatsapp.phoneNumberId}/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${creds.whatsapp.accessToken}`, "content-type": "application/json" },
      body: JSON.stringify({ messaging_product: "whatsapp", recipient_type: "individual", to: to.to, type: "text", text: { body } }),
    });
  } else {
    if (!creds.discord) throw new Error("Discord is not connected");
    res = await fetch(`${env.DISCORD_API_BASE ?? "https://discord.com/api/v10"}/webhooks/${creds.discord.applicationId}/${to.to}/messages/@original`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ content: body.slice(0, 2000) }),
    });
  }
  if (!res.ok) throw new Error(`${to.channel} refused the reply: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
}

/** A bridged reply with the channel credentials the edge sealed in the user's object (`bridge:<userId>`). */
export async function sendBridgedReply(
  env: ReplyEnv & { ENCRYPTION_KEY: string },
  sealed: string,
  userId: string,
  to: ReplyTarget,
  text: string,
): Promise<void> {
  const creds = JSON.parse(await new SecretBox(env.ENCRYPTION_KEY).decrypt(sealed, `bridge:${userId}`)) as BridgeCredentials;
  await sendReply(env, creds, to, text);
}
