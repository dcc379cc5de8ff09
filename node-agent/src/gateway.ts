import type { DockerClient } from "./docker-client";
import { GATEWAY_PORT } from "./traefik";

/**
 * HTTP to an agent's OpenClaw gateway inside its container, reached on the agent's private bridge network:
 * the readiness probe, a message to its OpenAI-compatible endpoint, a raw channel update to its listener.
 */

/** The running container's address on its network and its gateway token. */
export interface GatewayTarget {
  ip: string;
  token: string;
}

/**
 * Ready means OpenClaw's /readyz answers with JSON. Its SPA answers 200 to any unknown GET, so a bare 200
 * proves nothing; the JSON body does. A container that stops or is OOM-killed while starting fails at once.
 */
export async function waitReady(docker: DockerClient, containerId: string, network: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let ip: string | undefined;
  while (Date.now() < deadline) {
    ip ??= await docker.ipOn(containerId, network);
    if (ip) {
      const ok = await fetch(`http://${ip}:${GATEWAY_PORT}/readyz`, { signal: AbortSignal.timeout(1000) })
        .then(async (r) => r.ok && (r.headers.get("content-type") ?? "").includes("json") && typeof (await r.json()) === "object")
        .catch(() => false);
      if (ok) return;
    }
    const info = await docker.inspect(containerId);
    if (info?.oomKilled) throw new Error("the agent ran out of memory while starting (its plan's memory limit is too small)");
    if (info?.state === "exited" || info?.state === "dead") throw new Error(`the agent container stopped while starting (${info.state})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the agent did not become ready in time");
}

/** A message to the gateway's chat completions endpoint, with the gateway token; returns the reply. */
export async function chat({ ip, token }: GatewayTarget, session: string, text: string): Promise<{ reply: string }> {
  const res = await fetch(`http://${ip}:${GATEWAY_PORT}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "openclaw", user: session, messages: [{ role: "user", content: text }] }),
    signal: AbortSignal.timeout(10 * 60_000),
  });
  const body = (await res.json().catch(() => ({}))) as { choices?: { message?: { content?: string } }[]; error?: { message?: string } };
  if (!res.ok) throw new Error(`the agent answered ${res.status}: ${body.error?.message ?? "no details"}`);
  return { reply: body.choices?.[0]?.message?.content ?? "" };
}

/**
 * A raw channel update (Telegram's webhook body with its secret header) to the container's own channel
 * listener. OpenClaw commits the update to its ingress queue before it answers 2xx, so a 2xx means the
 * update is safe. A listener that is between connections or still starting refuses for a moment: retried
 * after each of `delaysMs` (OpenClaw drops a repeated Telegram update by its update_id, so a retry never
 * doubles one); `target` is looked up again on every attempt.
 */
export async function forwardUpdate(
  target: () => Promise<GatewayTarget>,
  update: { port: number; path: string; headers: Record<string, string>; body: string },
  delaysMs: number[],
): Promise<{ status: number; attempts: number }> {
  const send = async () => {
    const { ip } = await target();
    const res = await fetch(`http://${ip}:${update.port}${update.path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...update.headers },
      body: update.body,
      signal: AbortSignal.timeout(30_000),
    });
    await res.arrayBuffer().catch(() => undefined);
    return res.status;
  };
  for (let attempt = 1; ; attempt++) {
    const outcome = await send().then(
      (status) => ({ status }),
      (e: Error) => ({ error: e.message }),
    );
    if ("status" in outcome && outcome.status < 300) return { status: outcome.status, attempts: attempt };
    // A 4xx is the listener refusing this update: another attempt would get the same answer.
    const final = ("status" in outcome && outcome.status < 500) || attempt > delaysMs.length;
    if (final) throw new Error("status" in outcome ? `the agent's channel listener answered ${outcome.status}` : outcome.error);
    await new Promise((r) => setTimeout(r, delaysMs[attempt - 1]));
  }
}
