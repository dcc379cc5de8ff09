/** What the edge and the fleet scheduler (a Durable Object) exchange about buying worker nodes. */

/** What the edge measured about the fleet when it asks whether to grow it. */
export interface FleetSnapshot {
  /** Committed memory / usable memory of healthy active nodes. */
  utilisation: number;
  /** Healthy active nodes plus nodes registering. */
  nodes: number;
  /** No node has room for one more agent. */
  full: boolean;
  /** Nodes registered but not yet healthy: capacity already on its way. */
  registering: number;
}

export interface FleetPolicy {
  scaleAt: number;
  maxNodes: number;
  maxMonthlySpendCents: number;
  nodeMonthlyCostCents: number;
  /** An order not registered after this long is considered failed (a new one may be placed). */
  orderTimeoutMs: number;
}

export type FleetDecision =
  | { action: "none"; reason: string }
  | { action: "wait"; orderId: string; reason: string }
  | { action: "capped"; reason: string }
  | { action: "order"; orderId: string; reason: string };

export interface FleetOrder {
  id: string;
  status: "ordering" | "booting" | "registered" | "failed" | "expired";
  providerRef: string | null;
  nodeId: string | null;
  costCents: number;
  error: string | null;
  createdAt: number;
  updatedAt: number;
}
