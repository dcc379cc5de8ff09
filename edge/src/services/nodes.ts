import { and, asc, eq, gt, isNull } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { nodeRegistrationTokens, nodes } from "@oc/db/schema";
import { newId } from "@oc/contracts/ids";
import { randomToken, sha256Hex } from "@oc/contracts/crypto";
import { audit } from "./audit";
import type { RequestMeta, Services } from "./context";
import { fleetScheduler } from "../clients/fleet";
import { nodeLink } from "../clients/node-link";

/** How long a registration token stays valid by default: long enough for a VPS to be built and boot. */
export const REGISTRATION_TTL_MINUTES = 120;

/**
 * A one-time token for a new worker VPS (handed to scripts/server-setup.sh, by an operator or the
 * autoscaler). The token itself is returned once; only its hash is stored.
 */
export async function createRegistrationToken(s: Services, opts: { createdBy: string | null; purpose?: string; ttlMinutes?: number }) {
  const token = `ocn_${randomToken(32)}`;
  const expiresAt = new Date(Date.now() + (opts.ttlMinutes ?? REGISTRATION_TTL_MINUTES) * 60_000);
  const id = newId("nrt");
  await s.db
    .insert(nodeRegistrationTokens)
    .values({ id, tokenHash: await sha256Hex(token), createdBy: opts.createdBy, purpose: opts.purpose ?? "operator", expiresAt });
  return { id, token, expiresAt };
}

/**
 * Exchanges a registration token for a node identity: the token is spent in the same statement that checks
 * it (so two VPSs racing with one token cannot both register), the node is created, and its secret is
 * returned once. The node becomes placeable after its agent connects and heartbeats.
 */
export async function registerNode(s: Services, input: { token: string; name: string; publicIp?: string; ramTotalMb?: number }, meta: RequestMeta) {
  const nodeId = newId("node");
  const [spent] = await s.db
    .update(nodeRegistrationTokens)
    .set({ usedAt: new Date(), nodeId, updatedAt: new Date() })
    .where(
      and(
        eq(nodeRegistrationTokens.tokenHash, await sha256Hex(input.token)),
        isNull(nodeRegistrationTokens.usedAt),
        gt(nodeRegistrationTokens.expiresAt, new Date()),
      ),
    )
    .returning({ id: nodeRegistrationTokens.id, purpose: nodeRegistrationTokens.purpose });
  if (!spent) throw new AppError("UNAUTHORIZED", "This registration token is unknown, expired or already used. Ask for a new one.");
  const secret = randomToken(32);
  // A token made for an autoscaler order is "<provider>:<orderId>": registering closes that order.
  const [provider, orderId] = spent.purpose.includes(":")
    ? [spent.purpose.split(":")[0]!, spent.purpose.slice(spent.purpose.indexOf(":") + 1)]
    : ["manual", null];
  await s.db.insert(nodes).values({
    id: nodeId,
    name: input.name,
    provider,
    providerRef: orderId,
    // Placeable once its agent is connected and healthy (the fleet check makes it active).
    status: "registering",
    secretHash: await sha256Hex(secret),
    publicIp: input.publicIp ?? null,
    ramTotalMb: input.ramTotalMb ?? 0,
  });
  if (orderId) await fleetScheduler(s.env).orderRegistered(orderId, nodeId);
  audit(s, meta, null, "node.register", { nodeId, tokenId: spent.id });
  // No storage keys travel to nodes: a node gets presigned URLs per archive (services/archives.ts).
  return { nodeId, secret };
}

/** Every node with what its NodeLink knows live (connection, heartbeat, metrics, drift), for operators. */
export async function listNodes(s: Services) {
  const rows = await s.db
    .select({ id: nodes.id, name: nodes.name, status: nodes.status, provider: nodes.provider, publicIp: nodes.publicIp })
    .from(nodes)
    .orderBy(asc(nodes.createdAt));
  return Promise.all(
    rows.map(async (n) => {
      const live = await nodeLink(s.env, n.id).getStatus();
      return {
        ...n,
        connected: live.connected,
        lastHeartbeatAt: live.lastHeartbeatAt,
        agentVersion: live.agentVersion,
        // The numeric gauges; per-agent holdings and swap are in the operator console's node table.
        metrics: live.metrics && (Object.fromEntries(Object.entries(live.metrics).filter(([, v]) => typeof v === "number")) as Record<string, number>),
        committedMb: live.committedMb,
        agents: live.agents,
        recentFailures: live.recentFailures,
        unknownContainers: live.unknownContainers,
      };
    }),
  );
}
