import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { NodeMetrics } from "@oc/contracts/wire";
import type { FleetPolicy } from "@oc/contracts/fleet";
import type { NodeStatus } from "@oc/contracts/capacity";
import { evictionPlan, freeMb, heldMb, placeable, roomMb, utilisation, type NodeView } from "@oc/contracts/capacity";

/**
 * Capacity by what agents really hold: dozing agents count their measured resident + compressed memory, never
 * toward buying a node, and the least recently used of them go to deep sleep when a wake or a new agent needs
 * room. Pure capacity numbers first, then the NodeLink and FleetScheduler Durable Objects in workerd.
 */
const GiB = 1024;
const metrics = (ramTotalMb: number, ramUsedMb: number, agents: NodeMetrics["agents"] = []): NodeMetrics => ({
  ramTotalMb,
  ramUsedMb,
  cpuPercent: 5,
  diskTotalMb: 100_000,
  diskUsedMb: 10_000,
  containerCount: agents.length,
  swap: { kind: "zram", totalMb: 4096, freeMb: 3000 },
  agents,
});
const node = (live: Partial<NodeStatus> & Pick<NodeStatus, "runningMb" | "dozing">, m = metrics(8 * GiB, 3 * GiB)): NodeView => ({
  id: "node_a",
  status: "active",
  live: {
    nodeId: "node_a",
    connected: true,
    agentVersion: "t",
    lastHeartbeatAt: Date.now(),
    metrics: m,
    unknownContainers: [],
    committedMb: 0,
    measuredMb: 0,
    agents: { running: 0, paused: 0, sleeping: 0 },
    recentFailures: [],
    ...live,
  },
});

describe("capacity by what is held (pure)", () => {
  it("a dozing agent counts what it holds; it leaves room and never counts toward buying a node", () => {
    // 8 GiB node, 1 GiB reserve: one running agent (2 GiB limit) and ten dozing ones at ~420 MiB each.
    const dozing = Array.from({ length: 10 }, (_, i) => ({ userId: `usr_${i}`, heldMb: 420, since: 1000 + i }));
    const n = node({ runningMb: 2048, dozing }, metrics(8 * GiB, 6900));
    expect(heldMb(n)).toBe(2048 + 4200);
    expect(freeMb(n)).toBe(Math.min(8192 - 1024 - 6248, 8192 - 6900)); // 920 MiB without evicting anyone
    expect(roomMb(n)).toBe(Math.min(8192 - 1024 - 2048, 8192 - 6900 + 4200)); // 5120 once all dozers slept
    expect(placeable([n], 2048).map((x) => x.id)).toEqual(["node_a"]); // room exists by eviction
    expect(utilisation([n])).toEqual({ committedMb: 2048, usableMb: 7168, ratio: 2048 / 7168 }); // dozers left out
    // Counted by limits (the old model) the same node would be at 12 × 2 GiB = 343% and buy a VPS.
    const full = node({ runningMb: 3 * 2048, dozing: [] });
    expect(placeable([full], 2048)).toEqual([]);
    expect(utilisation([full]).ratio).toBeGreaterThan(0.85);
  });

  it("eviction takes the least recently used dozers first, as few as needed, never the one being woken", () => {
    const dozing = [
      { userId: "usr_new", heldMb: 400, since: 3000 },
      { userId: "usr_old", heldMb: 300, since: 1000 },
      { userId: "usr_mid", heldMb: 500, since: 2000 },
    ];
    expect(evictionPlan(dozing, 1000, 1200)).toEqual([]); // fits already
    expect(evictionPlan(dozing, 1000, 800)).toEqual(["usr_old"]);
    expect(evictionPlan(dozing, 1000, 300)).toEqual(["usr_old", "usr_mid"]);
    expect(evictionPlan(dozing, 1000, 300, "usr_old")).toEqual(["usr_mid", "usr_new"]);
    expect(evictionPlan(dozing, 5000, 300)).toBeUndefined(); // even all of them would not make room
  });
});

const policy: FleetPolicy = { scaleAt: 0.85, maxNodes: 5, maxMonthlySpendCents: 10_000, nodeMonthlyCostCents: 2_599, orderTimeoutMs: 60_000 };
const spec = (userId: string, memoryMb = 2048) => ({
  userId,
  image: "openclaw-agent:test",
  host: "a.agents.example.com",
  config: {},
  gatewayToken: "g".repeat(32),
  memoryMb,
  cpus: 1,
  pidsLimit: 256,
});
const userId = () => `usr_${Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => "abcdefghijklmnopqrstuvwxyz234567"[b % 32]).join("")}`;

describe("NodeLink: room for a wake comes from the least recently used dozers", () => {
  it("reports dozers by what the node measured, and sends only the oldest to deep sleep when a wake needs room", async () => {
    const nodeId = `node_dz_${crypto.randomUUID().slice(0, 8)}`;
    const link = env.NODE_LINK.getByName(nodeId);
    const [oldest, middle, newest, waking] = [userId(), userId(), userId(), userId()];
    // Three dozing agents (2 GiB limits) placed here, paused at different times; each is a real UserAgent.
    for (const [i, u] of [oldest, middle, newest].entries()) {
      const account = env.USER_AGENT.getByName(u!);
      await account.init(u!);
      await account.setPlacement(nodeId);
      await account.setStatus("paused");
      await runInDurableObject(link, (_o, state) => {
        state.storage.sql.exec("INSERT INTO placements (user_id, expected, updated_at, memory_mb) VALUES (?, 'paused', ?, 2048)", u, 1000 + i);
      });
    }
    // 8 GiB node with two running agents (4 GiB) elsewhere placed: dozers measured at 600 MiB each.
    const running = [userId(), userId()];
    await runInDurableObject(link, (instance, state) => {
      for (const u of running) state.storage.sql.exec("INSERT INTO placements (user_id, expected, updated_at, memory_mb) VALUES (?, 'running', 1, 2048)", u);
      const m = metrics(
        8 * GiB,
        6 * GiB,
        [oldest, middle, newest].map((u) => ({ userId: u!, state: "paused", residentMb: 150, swappedMb: 900, compressedMb: 450 })),
      );
      (instance as unknown as { meta: { set(k: string, v: string): void } }).meta.set("metrics", JSON.stringify(m));
      (instance as unknown as { meta: { set(k: string, v: string): void } }).meta.set("lastHeartbeatAt", String(Date.now()));
    });
    const status = await link.getStatus();
    expect(status.dozing.map((d) => [d.userId, d.heldMb])).toEqual([
      [oldest, 600],
      [middle, 600],
      [newest, 600],
    ]);
    expect(status.runningMb).toBe(4096);
    expect(status.committedMb).toBe(5 * 2048); // limits, as before, shown next to what is held
    expect(heldMb({ id: nodeId, status: "active", live: status })).toBe(4096 + 1800);

    // Positive control: a small agent (256 MiB) fits next to them (free = 8192 - 1024 - 5896 = 1272): nobody sleeps.
    const sleeps = async () => (await link.sentCommands()).map((r) => r.command as { kind: string; userId?: string }).filter((c) => c.kind === "sleep");
    await link.sendCommand({ kind: "wake", spec: spec(userId(), 256) });
    expect(await sleeps()).toEqual([]);
    // Then 1.5 GiB: free is 1016 now, so one dozer must go, and it is the one dozing longest.
    await link.sendCommand({ kind: "wake", spec: spec(waking, 1536) });
    expect((await sleeps()).map((c) => c.userId)).toEqual([oldest]);
    expect((await link.placements()).find((p) => p.userId === waking)).toMatchObject({ expected: "running", memoryMb: 1536 });
  });

  it("a fleet of dozing agents never buys a node; the same agents all running would", async () => {
    const dozing = Array.from({ length: 12 }, (_, i) => ({ userId: `usr_${i}`, heldMb: 450, since: i }));
    const dozy = node({ runningMb: 2048, dozing }, metrics(8 * GiB, 7800));
    const fleet = env.FLEET.getByName(`fleet-${crypto.randomUUID()}`);
    const snap = (n: NodeView) => ({ utilisation: utilisation([n]).ratio, nodes: 1, full: placeable([n], 2048).length === 0, registering: 0 });
    expect((await fleet.evaluate(snap(dozy), policy)).action).toBe("none");
    const busy = node({ runningMb: 13 * 2048, dozing: [] }, metrics(8 * GiB, 7800));
    expect((await fleet.evaluate(snap(busy), policy)).action).toBe("order");
  });
});
