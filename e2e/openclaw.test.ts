import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AgentRuntime, type AgentSpec } from "../node-agent/src/agent-lifecycle";
import { DockerodeClient } from "../node-agent/src/dockerode-client";
import { openclawConfig } from "@oc/contracts/openclaw-config";
import { localRuntime } from "../node-agent/test/local-runtime";
import { cliJson } from "../node-agent/src/openclaw-cli";
import { createHmac } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:net";
import { poll } from "../test-harness/poll";
import { signUpAndIn } from "../test-harness/accounts";
import { AGENT_IMAGE } from "@oc/contracts/agent-image";
import { E2E_PORTS } from "../test-harness/ports";

/**
 * A real OpenClaw gateway (the pinned package, in the image node-agent/image/build.sh builds locally) in its
 * own container: provisioned with a generated config, talked to, put to sleep in S3, lost, woken from the
 * archive, and talked to again. Every model call it makes goes through our metering proxy (wrangler dev) to
 * the recording LLM stand-in, which is how the test sees the conversation history survive.
 */
const IMAGE = process.env.OPENCLAW_IMAGE ?? AGENT_IMAGE;
const base = inject("baseUrl");
const llm = inject("llmUrl");
const docker = new DockerodeClient();
let closeStore: () => Promise<void>;
/**
 * The public names the channel plugins dial (WhatsApp Web, Discord's gateway, Slack's API) resolve, inside the
 * agent's container, to the host, where this server takes each connection and closes it: the plugins fail
 * the way they would offline, and no lookup or connection leaves this machine.
 */
const PLATFORM_HOSTS = ["web.whatsapp.com", "discord.com", "gateway.discord.gg", "slack.com"];
const platforms = createServer((socket) => socket.destroy());
let runtime: AgentRuntime;
let spec: AgentSpec;
let cookie = "";
let userId = "";
const gatewayToken = crypto.randomUUID().replace(/-/g, "");
const SLACK_SECRET = "e2e-slack-signing-secret-0123";

async function api(path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { cookie, origin: base, "content-type": "application/json", "cf-connecting-ip": "127.0.0.9" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { res, json: (await res.json()) as any };
}

/** A message to the agent through its gateway's OpenAI-compatible endpoint, in one conversation. */
async function say(text: string): Promise<string> {
  const ip = await docker.ipOn(AgentRuntime.containerName(userId), AgentRuntime.networkName(userId));
  const res = await fetch(`http://${ip}:18789/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${gatewayToken}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "openclaw", user: "conversation-1", messages: [{ role: "user", content: text }] }),
    signal: AbortSignal.timeout(90_000),
  });
  const body = (await res.json()) as any;
  if (res.status !== 200) throw new Error(`gateway answered ${res.status}: ${JSON.stringify(body)}`);
  return body.choices[0].message.content as string;
}

async function upstreamCalls(): Promise<{ path: string; body: string }[]> {
  return (await fetch(`${llm}/_requests`)).json() as never;
}

beforeAll(async () => {
  expect(await docker.hasImage(IMAGE), `image ${IMAGE} missing: run node-agent/image/build.sh (npm test does)`).toBe(true);
  ({ runtime, close: closeStore } = await localRuntime());
  await new Promise<void>((ok, fail) => platforms.once("error", fail).listen(443, "0.0.0.0", ok));

  ({ cookie, userId } = await signUpAndIn(base, `openclaw-${Date.now()}@example.com`, "e2e-openclaw-password", "127.0.0.8"));
  const { json: issued } = await api("/api/agent/proxy-key");
  await api("/api/dev/credit", { amountMicros: 50_000_000 });

  const host = `${userId.replace(/_/g, "-")}.agents.example.com`;
  spec = {
    userId,
    image: IMAGE,
    host,
    // host.docker.internal (Docker's host-gateway alias, added to every agent container) stays valid when the
    // agent's network is re-created after a loss; a bridge gateway IP would not.
    config: openclawConfig({
      host,
      edgeUrl: `http://host.docker.internal:${E2E_PORTS.edge}`,
      proxyKey: issued.key,
      openaiModels: [{ id: "auto", contextWindow: 200_000, maxTokens: 4096 }],
    }),
    gatewayToken,
    memoryMb: 2048,
    cpus: 2,
    pidsLimit: 512,
    user: "1000:1000",
    extraHosts: PLATFORM_HOSTS.map((h) => `${h}:host-gateway`),
  };
}, 180_000);

afterAll(async () => {
  if (userId) await runtime?.remove(userId, { deleteState: true }).catch(() => {});
  await closeStore?.();
  platforms.close();
});

describe("a real OpenClaw gateway: provision, talk, sleep, lose, wake, talk", () => {
  it("provisions and answers through the metering proxy", async () => {
    const { readyMs } = await runtime.provision(spec);
    console.log(`[openclaw e2e] first start to /readyz: ${readyMs} ms`);
    // The Control UI is served straight from the image's package (gateway.controlUi.root), not from a copy.
    const ip = await docker.ipOn(AgentRuntime.containerName(userId), AgentRuntime.networkName(userId));
    const ui = await fetch(`http://${ip}:18789/favicon.svg`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get("content-type")).toContain("svg");
    const before = (await fetch(`${base}/api/agent/balance`, { headers: { cookie } }).then((r) => r.json())) as { balance: number };
    const answer = await say("Please remember: my favourite colour is teal.");
    expect(answer).toContain("[dev stand-in]");
    const calls = await upstreamCalls();
    expect(calls.some((c) => c.body.includes("my favourite colour is teal"))).toBe(true);
    // The call was metered: the user's balance went down.
    let after = before;
    for (let i = 0; i < 50 && after.balance === before.balance; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = (await fetch(`${base}/api/agent/balance`, { headers: { cookie } }).then((r) => r.json())) as typeof before;
    }
    expect(after.balance).toBeLessThan(50_000_000);
  }, 180_000);

  it("sleeps to S3, survives losing the node, and wakes with the conversation intact", async () => {
    const { key, bytes } = await runtime.sleep(userId);
    console.log(`[openclaw e2e] state archive ${key}: ${bytes} bytes`);
    // The channel plugins the image seeds (~50 MB) stay out of the archive; the image puts them back on start.
    expect(bytes).toBeLessThan(5_000_000);
    await runtime.remove(userId, { deleteState: true }); // node lost: no container, no local state

    const { restoredFrom, readyMs } = await runtime.wake(spec);
    expect(restoredFrom).toBe(key);
    console.log(`[openclaw e2e] restore + start to /readyz: ${readyMs} ms`);

    const seen = (await upstreamCalls()).length;
    await say("What is my favourite colour?");
    const later = (await upstreamCalls()).slice(seen);
    const turn = later.find((c) => c.body.includes("What is my favourite colour?"));
    expect(turn, "the new question reached the upstream").toBeDefined();
    expect(turn!.body).toContain("my favourite colour is teal"); // earlier history came back from the archive
  }, 240_000);

  it("has the channel plugins as trusted official installs: Slack's HTTP listener checks signatures, and WhatsApp's QR login runs through the gateway's web.login RPC", async () => {
    const config = openclawConfig({
      host: spec.host,
      edgeUrl: `http://host.docker.internal:${E2E_PORTS.edge}`,
      proxyKey: (spec.config as any).models.providers.meter.apiKey,
      openaiModels: [{ id: "auto", contextWindow: 200_000, maxTokens: 4096 }],
      whatsappWeb: {},
      discordBot: { token: "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz012345" },
      slack: { botToken: "xoxb-1111-2222-e2e", signingSecret: SLACK_SECRET },
    });
    // configure() restarts the container and waits for /readyz: the gateway comes up with both plugins.
    await runtime.configure({ ...spec, config });
    // The boot before the restart left its compiled code in the state dir's cache (not in the tmpfs /tmp).
    expect(readdirSync(join(runtime.stateDir(userId), "cache", "node-compile-cache", "openclaw")).length).toBeGreaterThan(0);
    // This agent was restored from an archive without them: they came back from the image's seed, as official
    // installs, so OpenClaw trusts them (a copy loaded by path is
    // refused with PLUGIN_TRUST_REFUSED and its channel never starts).
    // One CLI run for all three: each start of the CLI costs seconds.
    const t0 = Date.now();
    const r = await docker.exec(AgentRuntime.containerName(userId), ["openclaw", "plugins", "inspect", "--all", "--json"], {
      user: "1000:1000",
      timeoutMs: 60_000,
    });
    console.log(`[openclaw e2e] plugins inspect --all: ${Date.now() - t0} ms`);
    const plugins = (cliJson(r.stdout) as unknown as { plugin: { id: string } }[]).map((p) => p.plugin);
    for (const id of ["discord", "whatsapp", "slack"]) {
      expect(
        plugins.find((p) => p.id === id),
        `${id}: ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 300)}`,
      ).toMatchObject({ id, trustedOfficialInstall: true, activated: true });
    }
    // Slack in HTTP mode: the gateway's own listener takes an event signed like Slack signs it (what the edge
    // forwards unchanged) and refuses a forged one.
    const ip = await docker.ipOn(AgentRuntime.containerName(userId), AgentRuntime.networkName(userId));
    const slackPost = async (secret: string) => {
      const body = JSON.stringify({
        type: "event_callback",
        team_id: "T1",
        api_app_id: "A1",
        event_id: `Ev${Date.now()}`,
        event: { type: "message", channel: "D1", user: "U1", text: "hello", ts: "1.2", channel_type: "im" },
      });
      const ts = String(Math.floor(Date.now() / 1000));
      const sig = `v0=${createHmac("sha256", secret).update(`v0:${ts}:${body}`).digest("hex")}`;
      return (
        await fetch(`http://${ip}:18789/slack/events`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-slack-request-timestamp": ts, "x-slack-signature": sig },
          body,
        })
      ).status;
    };
    expect(
      await poll(
        () => slackPost(SLACK_SECRET),
        (st) => st === 200,
        { timeoutMs: 30_000, intervalMs: 1000 },
      ),
    ).toBe(200);
    expect(await slackPost("forged-forged-forged-forged")).toBe(401);

    // web.whatsapp.com is the suite's closing server (PLATFORM_HOSTS), so the plugin's own error comes back
    // instead of a QR code. Without the plugin the gateway would say "web login provider is not available".
    const outcome = await runtime.channelLogin(userId, "whatsapp", "start").then(
      (r) => r.qrDataUrl ?? `no QR: ${r.message}`,
      (e: Error) => e.message,
    );
    console.log(`[openclaw e2e] web.login.start: ${outcome.slice(0, 120)}`);
    expect(outcome).toMatch(/WhatsApp login failed/);
    expect(outcome).not.toMatch(/ENOTFOUND|EAI_AGAIN/); // the name resolved to the suite's server, not through DNS
  }, 180_000);
});
