import type { ProvisionPlan as Plan } from "@oc/contracts/agent";
import type { AgentSpecWire } from "@oc/contracts/wire";

export type ProvisionPlan = Plan<AgentSpecWire>;

/** What provisioning needs of the object; UserAgent wires its parts in. */
export interface ProvisionHost {
  init(userId: string): Promise<unknown>;
  setStatus(status: "queued" | "placing" | "failed", reason?: string): Promise<void>;
  setPlacement(nodeId: string): void;
  setKeys(hash: string, agentId: string, browserKeyHash: string, keysSealed: string): void;
  setAgentSpec(sealed: string): void;
  send(nodeId: string, command: { kind: "provision"; spec: AgentSpecWire }, commandId: string): Promise<{ delivered: boolean }>;
}

/**
 * The provisioning steps inside the object, in the order the dashboard shows them: queued → placing (the
 * node then reports creating → starting → ready). A node that went offline since it was picked fails it.
 */
export async function provision(h: ProvisionHost, plan: ProvisionPlan): Promise<{ delivered: boolean }> {
  await h.init(plan.userId);
  await h.setStatus("queued");
  if ("failed" in plan) {
    await h.setStatus("failed", plan.failed);
    return { delivered: false };
  }
  h.setPlacement(plan.nodeId);
  await h.setStatus("placing", `on ${plan.nodeId}`);
  h.setKeys(plan.proxyKeyHash, plan.agentId, plan.browserKeyHash, plan.keysSealed);
  h.setAgentSpec(plan.specSealed);
  const { delivered } = await h.send(plan.nodeId, plan.command, plan.commandId);
  if (!delivered) await h.setStatus("failed", "the chosen server went offline; please try again");
  return { delivered };
}
