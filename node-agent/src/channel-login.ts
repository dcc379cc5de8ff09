import type { DockerClient } from "./docker-client";
import { cliJson } from "./openclaw-cli";

/**
 * QR login for socket channels (WhatsApp Web): OpenClaw's own gateway RPC, `web.login.start` (returns a QR
 * image as a data URL, plus a session key) and `web.login.wait` (returns once the phone has scanned it),
 * called with its CLI inside the user's running container, as its user, with argv (never a shell). The
 * edge relays the QR to the owner's dashboard; the credentials stay in the agent's state dir.
 */
export interface LoginResult {
  qrDataUrl?: string;
  sessionKey?: string;
  connected?: boolean;
  message?: string;
}

export async function runChannelLogin(
  docker: DockerClient,
  containerId: string,
  token: string,
  user: string | undefined,
  channel: "whatsapp",
  op: "start" | "wait",
  sessionKey?: string,
): Promise<LoginResult> {
  const params = op === "start" ? { channel, timeoutMs: 30_000 } : { channel, timeoutMs: 25_000, ...(sessionKey ? { sessionKey } : {}) };
  const argv = ["openclaw", "gateway", "call", `web.login.${op}`, "--params", JSON.stringify(params), "--json", "--token", token, "--timeout", "40000"];
  const r = await docker.exec(containerId, argv, { user, timeoutMs: 60_000 });
  let out: Record<string, unknown> = {};
  try {
    out = cliJson(r.stdout);
  } catch {
    /* not JSON: the exit code decides below */
  }
  const error = (out.error as { message?: string } | undefined)?.message;
  if (r.exitCode !== 0 && !out.message)
    throw new Error(error ?? ((r.stderr || r.stdout).trim().split("\n").slice(-2).join(" ").slice(0, 400) || `web.login.${op} failed`));
  if (error) throw new Error(error);
  return {
    qrDataUrl: typeof out.qrDataUrl === "string" && out.qrDataUrl.startsWith("data:image/") ? out.qrDataUrl : undefined,
    sessionKey: typeof out.sessionKey === "string" ? out.sessionKey : undefined,
    connected: typeof out.connected === "boolean" ? out.connected : undefined,
    message: typeof out.message === "string" ? out.message.slice(0, 500) : undefined,
  };
}
