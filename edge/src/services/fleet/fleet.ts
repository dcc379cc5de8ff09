import { and, eq, inArray, ne } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import type { FleetDecision, FleetPolicy } from "@oc/contracts/fleet";
import { nodes } from "@oc/db/schema";
import type { Env } from "../../env";
import type { Services } from "../context";
import { createRegistrationToken } from "../nodes";
import { paidAmong } from "../entitlement";
import { AGENT_MEMORY_MB, freeMb, healthy, placeable, utilisation, type NodeView } from "@oc/contracts/capacity";
import { hostingerProvider } from "./hostinger";
import { bootstrapScript, type NodeProvider } from "./provider";
import { fleetScheduler } from "../../clients/fleet";
import { nodeLink } from "../../clients/node-link";
import { userAgent } from "../../clients/user-agent";

export const policyOf = (env: Env): FleetPolicy => ({
  scaleAt: env.FLEET_SCALE_AT,
  maxNodes: env.FLEET_MAX_NODES,
  maxMonthlySpendCents: env.FLEET_MAX_MONTHLY_SPEND_CENTS,
  nodeMonthlyCostCents: env.NODE_MONTHLY_COST_CENTS,
  orderTimeoutMs: 45 * 60_000,
});

/** Every node that is not retired, with what its NodeLink knows live. */
export async function fleetView(s: Services): Promise<NodeView[]> {
  const rows = await s.db.select({ id: nodes.id, status: nodes.status }).from(nodes).where(ne(nodes.status, "retired"));
  return Promise.all(rows.map(async (n) => ({ id: n.id, status: n.status, live: await nodeLink(s.env, n.id).getStatus() })));
}

export interface FleetReport {
  utilisation: { committedMb: number; usableMb: number; ratio: number };
  transitions: { nodeId: string; from: string; to: string }[];
  moved: { userId: string; from: string; to: string }[];
  decision: FleetDecision;
  ordered?: { orderId: string; providerRef?: string; error?: string };
}

/**
 * The fleet's periodic check (cron every minute, or an operator's "check now"): node lifecycle first
 * (registering → active once healthy; a node gone silent → down, its agents moved; a node back → active),
 * then the scheduler decides whether to buy a node, and if so the order is placed with the provider.
 */
export async function checkFleet(s: Services, provider: NodeProvider | undefined = hostingerProvider(s.env)): Promise<FleetReport> {
  const now = Date.now();
  let view = await fleetView(s);
  const transitions: FleetReport["transitions"] = [];
  const moved: FleetReport["moved"] = [];
  for (const n of view) {
    const silentFor = n.live.lastHeartbeatAt ? now - n.live.lastHeartbeatAt : Number.POSITIVE_INFINITY;
    const lost = (!n.live.connected && silentFor > s.env.NODE_DOWN_AFTER_MS) || (n.live.connected && silentFor > Math.max(s.env.NODE_DOWN_AFTER_MS, 90_000));
    let next = n.status;
    if ((n.status === "registering" || n.status === "down") && healthy(n, now)) next = "active";
    else if ((n.status === "active" || n.status === "draining") && n.live.lastHeartbeatAt && lost) next = "down";
    if (next !== n.status) {
      await s.db.update(nodes).set({ status: next, updatedAt: new Date() }).where(eq(nodes.id, n.id));
      transitions.push({ nodeId: n.id, from: n.status, to: next });
      n.status = next;
    }
  }
  for (const n of view.filter((x) => x.status === "down" || x.status === "draining")) moved.push(...(await moveAgentsOff(s, n, view)));
  if (moved.length > 0) view = await fleetView(s);
  // A draining node with nothing left on it is retired (its agent may be stopped and the VPS cancelled).
  for (const n of view.filter((x) => x.status === "draining"))
    if ((await nodeLink(s.env, n.id).placements()).length === 0) {
      await s.db.update(nodes).set({ status: "retired", updatedAt: new Date() }).where(eq(nodes.id, n.id));
      transitions.push({ nodeId: n.id, from: "draining", to: "retired" });
      n.status = "retired";
    }

  // Capacity is bought only for accounts someone pays for: memory held by an unpaid account's container
  // (a lapsed plan whose agent has not gone to sleep yet) does not count towards the threshold.
  const paid = await paidView(s, view, now);
  const u = utilisation(paid, now);
  const decision = await fleetScheduler(s.env).evaluate(
    {
      utilisation: u.ratio,
      nodes: view.filter((n) => (n.status === "active" && healthy(n, now)) || n.status === "registering").length,
      full: placeable(paid, AGENT_MEMORY_MB, now).length === 0,
      registering: view.filter((n) => n.status === "registering").length,
    },
    policyOf(s.env),
  );
  const report: FleetReport = { utilisation: u, transitions, moved, decision };
  if (decision.action === "order") report.ordered = await placeOrder(s, decision.orderId, provider);
  return report;
}

/** The fleet as the purchase decision sees it: each healthy node's committed memory counts paid accounts only. */
async function paidView(s: Services, view: NodeView[], now: number): Promise<NodeView[]> {
  const counted = view.filter((n) => n.status === "active" && healthy(n, now));
  const placements = new Map(await Promise.all(counted.map(async (n) => [n.id, await nodeLink(s.env, n.id).placements()] as const)));
  const held = [...placements.values()].flat().filter((p) => p.expected === "running" || p.expected === "paused");
  const payers = await paidAmong(s, [...new Set(held.map((p) => p.userId))]);
  return view.map((n) => {
    const mine = placements.get(n.id);
    if (!mine) return n;
    const committedMb = mine
      .filter((p) => (p.expected === "running" || p.expected === "paused") && payers.has(p.userId))
      .reduce((sum, p) => sum + p.memoryMb, 0);
    return { ...n, live: { ...n.live, committedMb } };
  });
}

async function placeOrder(s: Services, orderId: string, provider: NodeProvider | undefined) {
  const fleet = fleetScheduler(s.env);
  if (!provider) {
    const error = "no node provider is configured (set HOSTINGER_API_TOKEN); add a node by hand with scripts/server-setup.sh";
    await fleet.orderFailed(orderId, error);
    return { orderId, error };
  }
  const hostname = `${orderId.replace(/_/g, "-")}.${s.env.AGENT_DOMAIN}`;
  try {
    const { token } = await createRegistrationToken(s, { createdBy: null, purpose: `${provider.name}:${orderId}`, ttlMinutes: 60 });
    const { providerRef } = await provider.order({
      orderId,
      hostname,
      bootstrapScript: bootstrapScript({ edgeUrl: s.env.APP_URL, token, hostname, acmeEmail: s.env.ACME_EMAIL }),
    });
    await fleet.orderPlaced(orderId, providerRef);
    console.log(`[fleet] ordered ${hostname} from ${provider.name} (${providerRef})`);
    return { orderId, providerRef };
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    await fleet.orderFailed(orderId, error);
    console.error(`[fleet] order ${orderId} failed: ${error}`);
    return { orderId, error };
  }
}

/**
 * Moves every agent placed on a lost or draining node to the roomiest healthy node: running ones are woken
 * there (restored from their newest archive), sleeping ones wake there next time. Agents with nowhere to
 * go stay put and are retried on the next check (the scheduler is buying room meanwhile).
 */
async function moveAgentsOff(s: Services, from: NodeView, view: NodeView[]) {
  const link = nodeLink(s.env, from.id);
  const moved: FleetReport["moved"] = [];
  const committed = new Map<string, number>();
  for (const p of await link.placements()) {
    const needs = p.expected === "sleeping" ? 0 : p.memoryMb;
    const target = placeable(
      view.filter((n) => n.id !== from.id),
      needs,
    ).find((n) => freeMb(n) - (committed.get(n.id) ?? 0) >= needs);
    if (!target) continue;
    committed.set(target.id, (committed.get(target.id) ?? 0) + needs);
    await userAgent(s.env, p.userId).relocate(target.id, from.status === "down" ? `server ${from.id} stopped answering` : `server ${from.id} is being retired`);
    await link.forget([p.userId]);
    moved.push({ userId: p.userId, from: from.id, to: target.id });
  }
  return moved;
}

/** Operators: stop placing on a node and move its agents away (it is retired once empty). */
export async function drainNode(s: Services, nodeId: string) {
  const [row] = await s.db
    .update(nodes)
    .set({ status: "draining", updatedAt: new Date() })
    .where(and(eq(nodes.id, nodeId), inArray(nodes.status, ["active", "registering", "down"])))
    .returning({ id: nodes.id });
  if (!row) throw new AppError("NOT_FOUND", "No such node, or it is already draining or retired.");
  return checkFleet(s);
}
