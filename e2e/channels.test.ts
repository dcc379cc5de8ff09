import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { poll } from "../test-harness/poll";
import { confirmEmail, grantAccess, signUpAndIn } from "../test-harness/accounts";
import { NodeAgent } from "../node-agent/src/edge-link";
import { AgentRuntime, type AgentSpec } from "../node-agent/src/agent-lifecycle";
import { DockerodeClient } from "../node-agent/src/dockerode-client";
import { localRuntime } from "../node-agent/test/local-runtime";

/**
 * A Telegram update for a sleeping agent, end to end on a real Docker engine: the edge checks the secret
 * token, the user's Durable Object queues the burst and wakes the agent (restart from its stopped
 * container), and the node agent hands each update, in order, to the container's webhook listener. The
 * container is a busybox stand-in for OpenClaw's Telegram listener (it records what it receives), because
 * the real bot cannot reach Telegram from this machine.
 */
const base = inject("baseUrl");
const chat = inject("chatUrl");
const IMAGE = "openclaw-test/busybox:1";
const LISTENER = [
  "/bin/sh",
  "-c",
  [
    "echo boot >> /home/node/.openclaw/boots.log",
    `(while true; do printf 'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 14\\r\\nConnection: close\\r\\n\\r\\n{"ready":true}' | nc -l -p 18789 >/dev/null 2>&1; done) &`,
    `while true; do printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n' | nc -l -p 8787 >> /home/node/.openclaw/telegram.log 2>&1; done`,
  ].join("\n"),
];

/** The real runtime, running the listener stand-in instead of the OpenClaw image. */
class ListenerRuntime extends AgentRuntime {
  override provision(spec: AgentSpec, onProgress?: Parameters<AgentRuntime["provision"]>[1]) {
    return super.provision({ ...spec, image: IMAGE, cmd: LISTENER, memoryMb: 128, user: undefined }, onProgress);
  }
  override wake(spec: AgentSpec) {
    return super.wake({ ...spec, image: IMAGE, cmd: LISTENER, memoryMb: 128, user: undefined });
  }
}

const docker = new DockerodeClient();
const nodeId = `node_channels_${randomBytes(4).toString("hex")}`;
const secret = randomBytes(32).toString("base64url");
let agent: NodeAgent;
let runtime: ListenerRuntime;
let stateRoot = "";
let close: () => Promise<void>;
let cookie = "";
let userId = "";

/** The agent's status with its recent activity, for failure messages. */
const statusWithActivity = async () => JSON.stringify(await api("/agent/status")).slice(0, 1500);
/** Waits up to a minute for the agent's status; on a miss the failure shows the status and recent activity. */
async function expectStatus(status: string) {
  const reached = await poll(
    () => api("/agent/status").then((r) => r.status),
    (s) => s === status,
    { timeoutMs: 60_000 },
  );
  expect(reached, await statusWithActivity()).toBe(status);
}

async function api(path: string, init: { method?: string; body?: unknown } = {}) {
  const res = await fetch(`${base}/api${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: { cookie, origin: base, "content-type": "application/json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return res.json() as Promise<any>;
}

beforeAll(async () => {
  if (!(await docker.hasImage(IMAGE)))
    await docker.buildImage(
      IMAGE,
      { busybox: readFileSync("/bin/busybox") },
      'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n',
    );
  const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  await db.query("INSERT INTO nodes (id, name, status, secret_hash) VALUES ($1, 'channels node', 'active', $2)", [
    nodeId,
    createHash("sha256").update(secret).digest("hex"),
  ]);
  await db.end();
  const local = await localRuntime(20_000);
  stateRoot = local.stateRoot;
  close = local.close;
  runtime = new ListenerRuntime(local.docker, local.store, { stateRoot, readyTimeoutMs: 20_000 });
  agent = new NodeAgent({ edgeUrl: base.replace("localhost", "127.0.0.1"), nodeId, secret, docker, runtime, log: () => {} });
  agent.start();
  await poll(
    async () => agent.connected,
    (c) => c,
    { timeoutMs: 10_000 },
  );
  await new Promise((r) => setTimeout(r, 500));
  const email = `channels-${Date.now()}@example.com`;
  ({ cookie, userId } = await signUpAndIn(base, email, "channels-password", "127.0.0.31"));
  await confirmEmail(base, email); // channels need a confirmed address
  await grantAccess(base, userId); // and running an agent needs paid access
}, 120_000);

afterAll(async () => {
  agent?.stop();
  if (userId) await runtime?.remove(userId, { deleteState: true }).catch(() => {});
  await close?.();
  const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  await db.query("UPDATE nodes SET status = 'retired' WHERE id = $1", [nodeId]);
  await db.end();
});

describe("Telegram through a sleeping agent, on a real Docker engine", () => {
  it("a burst of updates wakes the agent and reaches its listener once each, in order", async () => {
    const placed = await api("/agent/provision", { method: "POST" });
    expect(placed.nodeId, JSON.stringify(placed)).toBe(nodeId);
    await expectStatus("ready");

    const connected = await api("/channels/telegram", { body: { botToken: "987654:BBBBBBBBBBBBBBBBBBBBBBBBBBBB" } });
    expect(connected).toMatchObject({ kind: "telegram", appliedToAgent: true });
    const received = (await fetch(`${chat}/_received`).then((r) => r.json())) as { path: string; body: any }[];
    const hook = received.filter((r) => r.path.endsWith("/bot987654:BBBBBBBBBBBBBBBBBBBBBBBBBBBB/setWebhook")).at(-1)!.body;
    // The restart on the new config finishes, then the agent is put to sleep (stopped, state archived).
    await expectStatus("ready");
    expect(JSON.parse(readFileSync(join(stateRoot, userId, "openclaw.json"), "utf8")).channels.telegram).toMatchObject({
      webhookSecret: hook.secret_token,
      webhookUrl: hook.url,
    });
    await api("/agent/sleep", { method: "POST" });
    await expectStatus("sleeping");

    const started = Date.now();
    const acked: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(hook.url.replace("localhost", "127.0.0.1"), {
        method: "POST",
        headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": hook.secret_token },
        body: JSON.stringify({ update_id: 100 + i, message: { message_id: i, chat: { id: 7, type: "private" }, text: `burst ${i}` } }),
      });
      acked.push(res.status);
    }
    console.log(`[channels e2e] 5 updates acknowledged in ${Date.now() - started} ms while the agent was asleep`);
    expect(acked).toEqual([200, 200, 200, 200, 200]);
    const log = join(stateRoot, userId, "telegram.log");
    const ids = await poll(
      async () => (existsSync(log) ? [...readFileSync(log, "utf8").matchAll(/"update_id":(\d+)/g)].map((m) => Number(m[1])) : []),
      (v) => v.length >= 5,
      { timeoutMs: 60_000 },
    );
    expect(ids.length, await statusWithActivity()).toBe(5);
    console.log(`[channels e2e] 5 Telegram updates to a sleeping agent → all at its listener: ${Date.now() - started} ms`);
    expect(ids).toEqual([100, 101, 102, 103, 104]); // each once, in the order Telegram sent them
    expect(readFileSync(log, "utf8")).toContain(`x-telegram-bot-api-secret-token: ${hook.secret_token}`);
    expect(
      readFileSync(join(stateRoot, userId, "boots.log"), "utf8")
        .trim()
        .split("\n").length,
    ).toBeGreaterThanOrEqual(3); // provision, config restart, wake
  }, 180_000);
});
