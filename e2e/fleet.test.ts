import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { poll } from "../test-harness/poll";
import { grantAccess, signUpAndIn } from "../test-harness/accounts";
import type { NodeMetrics } from "@oc/contracts/wire";
import { NodeAgent } from "../node-agent/src/edge-link";
import type { AgentRuntime, AgentSpec } from "../node-agent/src/agent-lifecycle";

/**
 * A fleet simulation against the real edge (wrangler dev): worker nodes are node agents on loopback, each
 * with a stand-in container runtime (no Docker) and a chosen RAM size. Users fill the fleet past 85%; the
 * scheduler buys exactly one node through the Hostinger API (a local stand-in answering its routes); that
 * node registers with the token from its post-install script; a node is lost and its agents move; it comes
 * back and its stale containers are reported, not deleted.
 */
const base = inject("baseUrl");
const hostinger = inject("hostingerUrl");
const edge = base.replace("localhost", "127.0.0.1");
let admin = "";
let purchasesAtStart = 0;
const agents: NodeAgent[] = [];
const nodeIds: string[] = [];

/** What a node runs, in memory: enough for the edge to see containers come and go. */
function fakeRuntime(containers = new Map<string, string>()) {
  const runtime = {
    containers,
    provision: async (spec: AgentSpec) => (containers.set(spec.userId, "running"), { containerId: `c-${spec.userId}`, readyMs: 1 }),
    wake: async (spec: AgentSpec) => {
      const restored = !containers.has(spec.userId);
      containers.set(spec.userId, "running");
      return { readyMs: 1, restoredFrom: restored ? `state/${spec.userId}/latest.tar.gz` : undefined };
    },
    sleep: async (userId: string) => (containers.set(userId, "exited"), { key: `state/${userId}/x.tar.gz`, bytes: 1 }),
    pause: async (userId: string) => (containers.set(userId, "paused"), { paused: true as const }),
    remove: async (userId: string) => void containers.delete(userId),
    deliver: async () => ({ reply: "ok" }),
    configure: async () => ({ restarted: false }),
    inventory: async () => [...containers].map(([userId, state]) => ({ userId, state })),
  };
  return runtime;
}

const metrics = (ramTotalMb: number): NodeMetrics => ({
  ramTotalMb,
  ramUsedMb: 1500,
  cpuPercent: 5,
  diskTotalMb: 100_000,
  diskUsedMb: 10_000,
  containerCount: 0,
});

async function api(path: string, init: { method?: string; body?: unknown; cookie?: string } = {}) {
  const res = await fetch(`${base}/api${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: {
      "content-type": "application/json",
      "cf-connecting-ip": `127.1.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`,
      ...(init.cookie ? { cookie: init.cookie, origin: base } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: res.status, body: (await res.json()) as any, cookie: res.headers.getSetCookie()[0]?.split(";")[0] };
}

async function startNode(token: string, ramMb: number, runtime = fakeRuntime()) {
  const reg = await api("/nodes/register", { body: { token, name: `sim-${nodeIds.length + 1}` } });
  expect(reg.status, JSON.stringify(reg.body)).toBe(201);
  return { ...connectNode(reg.body.nodeId, reg.body.secret, ramMb, runtime), secret: reg.body.secret as string };
}

function connectNode(nodeId: string, secret: string, ramMb: number, runtime: ReturnType<typeof fakeRuntime>) {
  const agent = new NodeAgent({
    edgeUrl: edge,
    nodeId,
    secret,
    runtime: runtime as unknown as AgentRuntime,
    metrics: async () => metrics(ramMb),
    log: () => {},
  });
  agent.start();
  agents.push(agent);
  if (!nodeIds.includes(nodeId)) nodeIds.push(nodeId);
  return { nodeId, agent, runtime };
}

const check = async () => (await api("/admin/fleet/check", { method: "POST", cookie: admin })).body;
const overview = async () => (await api("/admin/overview", { cookie: admin })).body;
const purchases = async () =>
  ((await fetch(`${hostinger}/_received`).then((r) => r.json())) as { path: string; body: any }[]).filter((r) => r.path === "/api/vps/v1/virtual-machines");
const nodeOf = async (id: string) => ((await api("/admin/nodes", { cookie: admin })).body.nodes as any[]).find((n) => n.id === id);

beforeAll(async () => {
  const email = `fleet-ops-${Date.now()}@example.com`;
  admin = (await signUpAndIn(base, email, "fleet-operator-password")).cookie;
  const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  await db.query("UPDATE users SET role = 'admin' WHERE email = $1", [email]);
  // Nodes other test files registered are finished with; the simulation starts from an empty fleet.
  await db.query("UPDATE nodes SET status = 'retired'");
  await db.end();
  purchasesAtStart = (await purchases()).length;
  for (const o of (await overview()).fleet.orders)
    if (o.status === "ordering" || o.status === "booting") await api(`/admin/fleet/orders/${o.id}/cancel`, { method: "POST", cookie: admin });
}, 30_000);

afterAll(async () => {
  for (const a of agents) a.stop();
  const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  await db.query("UPDATE nodes SET status = 'retired' WHERE id = ANY($1)", [nodeIds]);
  await db.end();
});

describe("fleet simulation: 3 nodes, 7 users", () => {
  const users: { userId: string; cookie: string }[] = [];
  let n1: Awaited<ReturnType<typeof startNode>>;
  let n2: Awaited<ReturnType<typeof startNode>>;
  let n3: Awaited<ReturnType<typeof startNode>>;

  it("fills two 8 GB nodes past 85% and buys exactly one node, however many checks run at once", async () => {
    const token = async () => (await api("/admin/nodes/registration-tokens", { body: {}, cookie: admin })).body.token as string;
    n1 = await startNode(await token(), 8192);
    n2 = await startNode(await token(), 8192);
    await poll(check, (r) => r.transitions.length === 0 && r.utilisation.usableMb === 2 * 7168);
    for (const id of nodeIds) expect((await nodeOf(id)).status).toBe("active");

    const before = (await purchases()).length;
    for (let i = 0; i < 6; i++) {
      const u = await signUpAndIn(base, `fleet-${i}-${Date.now()}@example.com`, "fleet-user-password");
      users.push(u);
      await grantAccess(base, u.userId);
      const placed = await api("/agent/provision", { method: "POST", cookie: u.cookie });
      expect(placed.status, JSON.stringify(placed.body)).toBe(202);
    }
    // 6 × 2 GiB on 2 × 7 GiB usable: 85.7%. Five operators press "check" at once.
    const reports = await Promise.all(Array.from({ length: 5 }, check));
    expect(reports.filter((r) => r.decision.action === "order")).toHaveLength(1);
    expect(reports.every((r) => r.utilisation.ratio > 0.85)).toBe(true);
    expect(reports.find((r) => r.decision.action === "order").ordered.providerRef).toMatch(/^\d+$/);
    const bought = (await purchases()).slice(before);
    expect(bought).toHaveLength(1);
    expect(bought[0]!.body.setup.hostname).toMatch(/^ord-[a-z0-9-]+\.agents\.example\.com$/);
    expect((await check()).decision.action).toBe("wait"); // still exactly one: it is on its way
    expect((await overview()).fleet.orders[0]).toMatchObject({ status: "booting" });

    // The 7th user finds no room yet, and is told so.
    const u7 = await signUpAndIn(base, `fleet-6-${Date.now()}@example.com`, "fleet-user-password");
    users.push(u7);
    await grantAccess(base, u7.userId);
    expect((await api("/agent/provision", { method: "POST", cookie: u7.cookie })).body.error.code).toBe("NO_CAPACITY");
  }, 60_000);

  it("the bought VPS registers with the token in its post-install script and takes the waiting user", async () => {
    const scripts = ((await fetch(`${hostinger}/_received`).then((r) => r.json())) as { path: string; body: any }[]).filter(
      (r) => r.path === "/api/vps/v1/post-install-scripts",
    );
    const content = scripts.at(-1)!.body.content as string;
    expect(content).toContain(`curl -fsSL '${edge.replace("127.0.0.1", "localhost")}/downloads/server-setup.sh'`);
    const token = content.match(/REGISTRATION_TOKEN='(ocn_[^']+)'/)![1]!;
    n3 = await startNode(token, 16_384);
    const after = await poll(check, (r) => r.transitions.some((t: any) => t.nodeId === n3.nodeId && t.to === "active"));
    expect(after.transitions).toContainEqual({ nodeId: n3.nodeId, from: "registering", to: "active" });
    const orders = (await overview()).fleet.orders;
    expect(orders[0], JSON.stringify(orders)).toMatchObject({ status: "registered", nodeId: n3.nodeId });
    const u7 = users[6]!;
    const placed = await api("/agent/provision", { method: "POST", cookie: u7.cookie });
    expect(placed.body.nodeId).toBe(n3.nodeId);
    await poll(
      () => api("/agent/status", { cookie: u7.cookie }).then((r) => r.body.status),
      (s) => s === "ready",
    );
    expect((await purchases()).length - purchasesAtStart).toBe(1); // one node bought in the whole crossing
  }, 60_000);

  it("a lost node is marked down and its running agents are restored on another node", async () => {
    const onN1 = (await api("/admin/nodes", { cookie: admin })).body.nodes.find((n: any) => n.id === n1.nodeId).agents.running as number;
    expect(onN1).toBe(3);
    n1.agent.stop();
    await new Promise((r) => setTimeout(r, 2_000)); // past NODE_DOWN_AFTER_MS (1.5 s in this run)
    const report = await check();
    expect(report.transitions).toContainEqual({ nodeId: n1.nodeId, from: "active", to: "down" });
    expect(report.moved).toHaveLength(3);
    for (const m of report.moved) expect(m).toMatchObject({ from: n1.nodeId, to: n3.nodeId });
    for (const m of report.moved) {
      const u = users.find((x) => x.userId === m.userId)!;
      const status = await poll(
        () => api("/agent/status", { cookie: u.cookie }).then((r) => r.body),
        (b) => b.status === "ready",
      );
      expect(status.activity.map((a: any) => a.message).join("\n")).toContain(`moved to another server: server ${n1.nodeId} stopped answering`);
      expect(n3.runtime.containers.get(m.userId)).toBe("running");
    }
  }, 60_000);

  it("when the lost node comes back it is active again, and its stale containers are reported, not deleted", async () => {
    const secret = (n1 as { secret: string }).secret;
    const back = connectNode(n1.nodeId, secret, 8192, n1.runtime); // same machine, same (now stale) containers
    await poll(
      () => nodeOf(n1.nodeId),
      (n) => n?.connected && n.unknownContainers.length === 3,
    );
    const node = await nodeOf(n1.nodeId);
    expect(node.unknownContainers.map((c: any) => c.userId).sort()).toEqual(
      users
        .filter((u) => n1.runtime.containers.has(u.userId))
        .map((u) => u.userId)
        .sort(),
    );
    expect((await check()).transitions).toContainEqual({ nodeId: n1.nodeId, from: "down", to: "active" });
    expect(back.runtime.containers.size).toBe(3); // nothing was removed
    const o = await overview();
    expect(o.fleet.nodes.find((n: any) => n.id === n1.nodeId)).toMatchObject({ status: "active", committedMb: 0 });
    expect(o.money).toMatchObject({ marginMicros: expect.any(Number) });
  }, 60_000);

  it("draining a node moves its agents to the others, then retires it", async () => {
    const onN2 = users.filter((u) => n2.runtime.containers.has(u.userId)).map((u) => u.userId);
    expect(onN2).toHaveLength(3);
    const drained = (await api(`/admin/nodes/${n2.nodeId}/drain`, { method: "POST", cookie: admin })).body;
    expect(drained.moved.map((m: any) => m.userId).sort()).toEqual([...onN2].sort());
    expect(drained.transitions).toContainEqual({ nodeId: n2.nodeId, from: "draining", to: "retired" });
    for (const m of drained.moved) expect(m.to).not.toBe(n2.nodeId);
    expect((await api(`/admin/nodes/${n2.nodeId}/drain`, { method: "POST", cookie: admin })).status).toBe(404); // already retired
  }, 60_000);
});
