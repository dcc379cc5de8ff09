import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { poll } from "../test-harness/poll";
import { grantAccess, signUpAndIn } from "../test-harness/accounts";
import { NodeAgent } from "../node-agent/src/edge-link";
import { AgentRuntime } from "../node-agent/src/agent-lifecycle";
import { DockerodeClient } from "../node-agent/src/dockerode-client";
import { localRuntime } from "../node-agent/test/local-runtime";

/**
 * The provisioning path end to end: a registered node whose agent dials the edge (wrangler dev), a paid
 * Stripe Checkout (the stand-in's hosted page, then its signed webhook to the edge) that creates the user's
 * agent, placement on that node, the real OpenClaw container started by the node
 * agent, and the progress reported back into the user's status.
 */
const base = inject("baseUrl");
const llm = inject("llmUrl");
const stripeUrl = inject("stripeUrl");
const docker = new DockerodeClient();
const nodeId = `node_e2e_${randomBytes(4).toString("hex")}`;
const secret = randomBytes(32).toString("base64url");
let agent: NodeAgent;
let runtime: AgentRuntime;
let closeStore: () => Promise<void>;
let stateRoot = "";
let userId = "";
let cookie = "";

beforeAll(async () => {
  const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  await db.query("INSERT INTO nodes (id, name, status, secret_hash) VALUES ($1, 'e2e node', 'active', $2)", [
    nodeId,
    createHash("sha256").update(secret).digest("hex"),
  ]);
  await db.end();
  ({ runtime, stateRoot, close: closeStore } = await localRuntime());
  agent = new NodeAgent({ edgeUrl: base.replace("localhost", "127.0.0.1"), nodeId, secret, docker, runtime, log: () => {} });
  agent.start();
  for (let i = 0; i < 100 && !agent.connected; i++) await new Promise((r) => setTimeout(r, 100));
  expect(agent.connected).toBe(true);
  await new Promise((r) => setTimeout(r, 500)); // the hello (with metrics) follows the open

  ({ cookie, userId } = await signUpAndIn(base, `prov-${Date.now()}@example.com`, "provisioning-password", "127.0.0.7"));
  await fetch(`${base}/api/dev/credit`, {
    method: "POST",
    headers: { cookie, origin: base, "content-type": "application/json" },
    body: JSON.stringify({ amountMicros: 50_000_000 }),
  });
}, 60_000);

type Msg = { id: number; text: string; reply: string | null; error: string | null; state: string };
const messages = async () => ((await fetch(`${base}/api/agent/messages`, { headers: { cookie } }).then((r) => r.json())) as { messages: Msg[] }).messages;
const status = async () => ((await fetch(`${base}/api/agent/status`, { headers: { cookie } }).then((r) => r.json())) as { status: string }).status;
const send = (text: string) =>
  fetch(`${base}/api/agent/messages`, {
    method: "POST",
    headers: { cookie, origin: base, "content-type": "application/json" },
    body: JSON.stringify({ text }),
  });

afterAll(async () => {
  agent?.stop();
  if (userId) await runtime?.remove(userId, { deleteState: true }).catch(() => {});
  await closeStore?.();
});

describe("provisioning an agent through the edge", () => {
  it("a paid checkout places it on the connected node, which starts real OpenClaw and reports each step", async () => {
    const res = await fetch(`${base}/api/billing/checkout`, {
      method: "POST",
      headers: { cookie, origin: base, "content-type": "application/json" },
      body: JSON.stringify({ plan: "starter" }),
    });
    const checkout = (await res.json()) as { id: string; url: string };
    expect(res.status, JSON.stringify(checkout)).toBe(200);
    expect(checkout.url).toBe(`${stripeUrl}/checkout/${checkout.id}`);
    // The user pays on the hosted page; Stripe redirects back and sends its signed webhooks to the edge.
    const paid = await fetch(`${checkout.url}/pay`, { method: "POST", redirect: "manual" });
    expect(paid.status).toBe(303);
    expect(paid.headers.get("location")).toBe(`${base}/dashboard?checkout=success`);

    let status = "";
    let activity: { message: string }[] = [];
    const started = Date.now();
    while (Date.now() - started < 150_000 && status !== "ready" && status !== "failed") {
      await new Promise((r) => setTimeout(r, 500));
      ({ status, activity } = (await fetch(`${base}/api/agent/status`, { headers: { cookie } }).then((r) => r.json())) as {
        status: string;
        activity: { message: string }[];
      });
    }
    console.log(`[provisioning e2e] API call to ready: ${Date.now() - started} ms`);
    expect(status, JSON.stringify(activity.slice(0, 3))).toBe("ready");
    const steps = activity
      .map((a) => a.message)
      .reverse()
      .filter((m) => m.startsWith("Agent is"));
    expect(steps).toEqual([`Agent is queued`, `Agent is placing: on ${nodeId}`, "Agent is creating", "Agent is starting", "Agent is ready"]);

    const container = await docker.inspect(AgentRuntime.containerName(userId));
    expect(container?.state).toBe("running");
    const billing = (await fetch(`${base}/api/billing`, { headers: { cookie } }).then((r) => r.json())) as {
      subscription: { planId: string; status: string };
      balance: { balance: number };
    };
    expect(billing.subscription).toMatchObject({ planId: "starter", status: "active" });
    expect(billing.balance.balance).toBe(50_000_000 + 3_000_000); // the dev credit + the plan's included month
    expect(container?.labels["openclaw.user"]).toBe(userId);
  }, 200_000);

  it("delivers messages, sleeps, and wakes for the next ones, delivering them in order", async () => {
    expect((await send("First: remember the number 42.")).status).toBe(202);
    const first = await poll(messages, (m) => m.every((x) => x.state === "answered" || x.state === "failed"), { timeoutMs: 120_000 });
    expect(first[0]).toMatchObject({ text: "First: remember the number 42.", state: "answered" });
    expect(first[0]!.reply).toContain("[dev stand-in]");

    expect(
      ((await fetch(`${base}/api/agent/sleep`, { method: "POST", headers: { cookie, origin: base } }).then((r) => r.json())) as { sleeping: boolean }).sleeping,
    ).toBe(true);
    expect(await poll(status, (st) => st === "sleeping", { timeoutMs: 60_000 })).toBe("sleeping");
    expect((await docker.inspect(AgentRuntime.containerName(userId)))?.state).toBe("exited");

    const woke = Date.now();
    await send("Second message while asleep");
    await send("Third message while asleep");
    const all = await poll(messages, (m) => m.length === 3 && m.every((x) => x.state === "answered" || x.state === "failed"), { timeoutMs: 180_000 });
    console.log(`[provisioning e2e] message to a sleeping agent → answered: ${Date.now() - woke} ms (includes the wake)`);
    const [third, second] = all;
    expect(second).toMatchObject({ text: "Second message while asleep", state: "answered" });
    expect(third).toMatchObject({ text: "Third message while asleep", state: "answered" });
    expect(second!.reply).toContain("[dev stand-in]");
    expect(third!.reply).toContain("[dev stand-in]");
    // Delivery order, as the model saw it: the second message's turn reached the upstream before the third's.
    const calls = (await fetch(`${llm}/_requests`).then((r) => r.json())) as { body: string }[];
    const at = (text: string) => calls.findIndex((c) => c.body.includes(text));
    expect(at("Second message while asleep")).toBeGreaterThanOrEqual(0);
    expect(at("Second message while asleep")).toBeLessThan(at("Third message while asleep"));
    expect(await status()).toBe("ready");
  }, 300_000);

  it("a rotated proxy key reaches the running agent's config, and its next message is metered with the new key", async () => {
    const res = await fetch(`${base}/api/agent/proxy-key`, { method: "POST", headers: { cookie, origin: base } });
    const rotated = (await res.json()) as { key: string; appliedToAgent: boolean };
    expect(rotated.appliedToAgent).toBe(true);
    const config = () => Promise.resolve(readFileSync(join(stateRoot, userId, "openclaw.json"), "utf8"));
    expect(await poll(config, (c) => c.includes(rotated.key), { timeoutMs: 15_000 })).toContain(rotated.key);
    await send("Fourth, after the key rotation");
    const all = await poll(messages, (m) => m.length === 4 && m.every((x) => x.state === "answered" || x.state === "failed"), { timeoutMs: 120_000 });
    expect(all[0], all[0]?.error ?? "").toMatchObject({ text: "Fourth, after the key rotation", state: "answered" });
    const calls = (await fetch(`${llm}/_requests`).then((r) => r.json())) as { body: string }[];
    expect(calls.some((c) => c.body.includes("Fourth, after the key rotation"))).toBe(true);
  }, 180_000);

  it("with no node able to take it, the user is told clearly and the status says why", async () => {
    agent.stop();
    await new Promise((r) => setTimeout(r, 300));
    const { cookie: c2, userId: u2 } = await signUpAndIn(base, `prov2-${Date.now()}@example.com`, "provisioning-password", "127.0.0.6");
    const refused = await fetch(`${base}/api/agent/provision`, { method: "POST", headers: { cookie: c2, origin: base } });
    expect(refused.status).toBe(402); // unpaid: refused before any node is even looked at
    await grantAccess(base, u2);
    const res = await fetch(`${base}/api/agent/provision`, { method: "POST", headers: { cookie: c2, origin: base } });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("NO_CAPACITY");
    const st = (await fetch(`${base}/api/agent/status`, { headers: { cookie: c2 } }).then((r) => r.json())) as { status: string };
    expect(st.status).toBe("failed");
  }, 30_000);
});
