import { DurableObject } from "cloudflare:workers";
import type { FleetDecision, FleetOrder, FleetPolicy, FleetSnapshot } from "@oc/contracts/fleet";
import type { FleetSchedulerRpc } from "@oc/contracts/rpc";

export type { FleetDecision, FleetOrder, FleetPolicy, FleetSnapshot };

/**
 * The single scheduler that buys worker nodes (one instance, named "fleet"). Because a Durable Object runs
 * one call at a time, "is an order in flight? if not, start one" cannot race: however many edges evaluate
 * at once, at most one order is open. It also enforces the node and spend caps. The provider call itself is
 * made by the edge, which reports back placed / failed; a node registering with the order's token closes it.
 */
export class FleetScheduler extends DurableObject implements FleetSchedulerRpc {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, status TEXT NOT NULL, provider_ref TEXT, node_id TEXT,
      cost_cents INTEGER NOT NULL, error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`);
  }

  async evaluate(snap: FleetSnapshot, policy: FleetPolicy): Promise<FleetDecision> {
    const now = Date.now();
    this.ctx.storage.sql.exec(
      "UPDATE orders SET status = 'expired', error = 'the node never registered', updated_at = ? WHERE status IN ('ordering', 'booting') AND created_at <= ?",
      now,
      now - policy.orderTimeoutMs,
    );
    const open = this.ctx.storage.sql.exec<{ id: string }>("SELECT id FROM orders WHERE status IN ('ordering', 'booting') LIMIT 1").toArray()[0];
    if (open) return { action: "wait", orderId: open.id, reason: "a node is already on its way" };
    if (snap.registering > 0) return { action: "wait", orderId: "", reason: "a new node is starting up" };
    const pct = Math.round(snap.utilisation * 1000) / 10;
    if (snap.utilisation < policy.scaleAt && !snap.full) return { action: "none", reason: `fleet at ${pct}% of ${policy.scaleAt * 100}%` };
    if (snap.nodes >= policy.maxNodes) return { action: "capped", reason: `node cap reached (${snap.nodes}/${policy.maxNodes})` };
    const monthStart = new Date(now);
    monthStart.setUTCDate(1);
    monthStart.setUTCHours(0, 0, 0, 0);
    const spent =
      this.ctx.storage.sql
        .exec<{ n: number | null }>(
          "SELECT SUM(cost_cents) AS n FROM orders WHERE status IN ('ordering', 'booting', 'registered') AND created_at >= ?",
          monthStart.getTime(),
        )
        .one().n ?? 0;
    if (spent + policy.nodeMonthlyCostCents > policy.maxMonthlySpendCents)
      return { action: "capped", reason: `monthly spend cap reached ($${(spent / 100).toFixed(2)} of $${(policy.maxMonthlySpendCents / 100).toFixed(2)})` };
    const id = `ord_${now.toString(36)}${crypto.randomUUID().slice(0, 8)}`;
    this.ctx.storage.sql.exec(
      "INSERT INTO orders (id, status, cost_cents, created_at, updated_at) VALUES (?, 'ordering', ?, ?, ?)",
      id,
      policy.nodeMonthlyCostCents,
      now,
      now,
    );
    return { action: "order", orderId: id, reason: snap.full ? "no node has room for another agent" : `fleet at ${pct}% (threshold ${policy.scaleAt * 100}%)` };
  }

  async orderPlaced(orderId: string, providerRef: string): Promise<void> {
    this.ctx.storage.sql.exec(
      "UPDATE orders SET status = 'booting', provider_ref = ?, updated_at = ? WHERE id = ? AND status = 'ordering'",
      providerRef,
      Date.now(),
      orderId,
    );
  }

  /** The provider refused: the order closes (and costs nothing), so the next evaluation may try again. */
  async orderFailed(orderId: string, error: string): Promise<void> {
    this.ctx.storage.sql.exec(
      "UPDATE orders SET status = 'failed', error = ?, updated_at = ? WHERE id = ? AND status IN ('ordering', 'booting')",
      error.slice(0, 500),
      Date.now(),
      orderId,
    );
  }

  async orderRegistered(orderId: string, nodeId: string): Promise<void> {
    this.ctx.storage.sql.exec("UPDATE orders SET status = 'registered', node_id = ?, updated_at = ? WHERE id = ?", nodeId, Date.now(), orderId);
  }

  async listOrders(limit = 20): Promise<FleetOrder[]> {
    return this.ctx.storage.sql
      .exec<{
        id: string;
        status: FleetOrder["status"];
        provider_ref: string | null;
        node_id: string | null;
        cost_cents: number;
        error: string | null;
        created_at: number;
        updated_at: number;
      }>("SELECT * FROM orders ORDER BY created_at DESC LIMIT ?", limit)
      .toArray()
      .map((r) => ({
        id: r.id,
        status: r.status,
        providerRef: r.provider_ref,
        nodeId: r.node_id,
        costCents: r.cost_cents,
        error: r.error,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      }));
  }
}
