import { and, eq } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { agents } from "@oc/db/schema";
import { checkFleet, fleetView } from "./fleet/fleet";
import { AGENT_MEMORY_MB, placeable } from "@oc/contracts/capacity";
import { randomToken } from "@oc/contracts/crypto";
import { MODELS } from "../proxy/catalog";
import { audit } from "./audit";
import type { RequestMeta, Services } from "./context";
import { ensureAgent, newAgentKeys } from "./proxy-keys";
import { agentSpec, applyAgentConfig, readAgentConfig } from "./agent-config";
import { countProvisionAttempt, requirePaid } from "./entitlement";
import { userAgent } from "../clients/user-agent";
import { billingMail } from "./billing/mail";

/**
 * The healthy active node with the most room for `memoryMb` (capacity.ts: RAM minus reserve minus the limits
 * already committed there). With none, the fleet check is nudged to buy one and the user is told.
 */
export async function placeAgent(s: Services, memoryMb = AGENT_MEMORY_MB): Promise<string> {
  const [best] = placeable(await fleetView(s), memoryMb);
  if (!best) {
    s.defer(checkFleet(s));
    throw new AppError(
      "NO_CAPACITY",
      "No server has room for your agent right now. We have been told and are adding capacity; please try again in a few minutes.",
    );
  }
  return best.id;
}

/**
 * Creates (or re-creates) the user's agent: picks a node, issues a fresh proxy key and gateway token,
 * generates the OpenClaw config, and asks the node to run it. Progress (queued → placing → creating →
 * starting → ready, or failed with a reason) lands in the user's Durable Object as the node reports it.
 */
export async function provisionAgent(s: Services, userId: string, meta: RequestMeta) {
  // Checked here, not in the route: every way in (the API, a paid Checkout's webhook) passes this point, and
  // nothing below (a container, a nudge to the fleet to buy a server) happens for an account nobody pays for.
  await requirePaid(s, userId, "Starting an agent");
  await countProvisionAttempt(s, userId);
  const account = userAgent(s.env, userId);
  await ensureAgent(s, userId);
  const { agentId, settings } = (await readAgentConfig(s, userId))!;
  let nodeId: string;
  try {
    nodeId = await placeAgent(s, settings.memoryMb);
  } catch (e) {
    await account.provision({ userId, failed: e instanceof AppError ? e.message : "placement failed" });
    throw e;
  }
  const keys = await newAgentKeys(s, userId);
  const gatewayToken = randomToken(24);
  await s.db
    .update(agents)
    .set({ nodeId, proxyKeyHash: keys.hash, gatewayTokenEnc: await s.secrets.encrypt(gatewayToken, `gateway:${agentId}`), updatedAt: new Date() })
    .where(and(eq(agents.id, agentId), eq(agents.userId, userId)));
  audit(s, meta, userId, "agent.proxy_key_issued", { agentId });
  const spec = agentSpec(s, userId, keys, gatewayToken, settings);
  // One call: the user's Durable Object records the placement, the keys and the sealed spec (it wakes the
  // agent with it later) and sends the node its command, in order and without interleaving.
  const { delivered } = await account.provision({
    userId,
    agentId,
    nodeId,
    proxyKeyHash: keys.hash,
    browserKeyHash: keys.browserKeyHash,
    keysSealed: keys.keysSealed,
    specSealed: await s.secrets.encrypt(JSON.stringify(spec), `spec:${userId}`),
    command: { kind: "provision", spec },
    commandId: `provision:${agentId}:${crypto.randomUUID()}`,
  });
  if (!delivered) throw new AppError("NO_CAPACITY", "The chosen server went offline. Please try again.");
  audit(s, meta, userId, "agent.provision", { agentId, nodeId });
  return { agentId, nodeId, status: "placing" as const };
}

/**
 * A paid subscription starts the user's agent if it is not running yet (first purchase, or a resubscribe
 * after the agent was stopped). A refusal the user can act on (no capacity) is mailed; the payment stands.
 */
export async function startAgentAfterPayment(s: Services, user: { id: string; email: string }) {
  const { status } = await userAgent(s.env, user.id).init(user.id);
  if (status !== "none" && status !== "failed" && status !== "stopped") return;
  try {
    await provisionAgent(s, user.id, { ip: null, userAgent: "stripe-webhook" });
  } catch (e) {
    // Anything else is ours: it throws, and the job tries again later.
    if (!(e instanceof AppError)) throw e;
    console.error(`[billing] could not start the agent of ${user.id} after payment: ${e.message}`);
    await billingMail.agentFailed(s, user, e.message);
  }
}

/**
 * The Smart Router setting: "auto" (the router picks the cheapest capable model per request) or one fixed
 * model. It lives in the agent's config (the model OpenClaw asks for), so a running agent gets it at once.
 */
export async function setRouterModel(s: Services, userId: string, model: string, meta: RequestMeta) {
  if (model !== "auto" && !MODELS.some((m) => m.id === model))
    throw new AppError("VALIDATION_FAILED", `Unknown model "${model}". Use "auto" or one of: ${MODELS.map((m) => m.id).join(", ")}.`);
  const agentId = await ensureAgent(s, userId);
  await s.db.update(agents).set({ routerMode: model, updatedAt: new Date() }).where(eq(agents.id, agentId));
  const [row] = await s.db.select({ nodeId: agents.nodeId }).from(agents).where(eq(agents.id, agentId));
  const appliedToAgent = row?.nodeId ? await applyAgentConfig(s, userId, meta) : false;
  audit(s, meta, userId, "agent.router_changed", { model });
  return { model, appliedToAgent };
}

export async function getRouterModel(s: Services, userId: string) {
  const [row] = await s.db.select({ routerMode: agents.routerMode }).from(agents).where(eq(agents.userId, userId));
  return {
    model: row?.routerMode ?? "auto",
    options: MODELS.map((m) => ({ id: m.id, format: m.api, bestFor: m.maxTier, inputPer1M: m.inputPer1M, outputPer1M: m.outputPer1M })),
  };
}

/** A message for the agent (a sleeping one is woken for it): paid work, so it needs paid access. */
export async function sendAgentMessage(s: Services, userId: string, text: string, session?: string) {
  await requirePaid(s, userId, "Talking to your agent");
  return userAgent(s.env, userId).sendMessage(text, session);
}

/** Sleep settings; "always on" keeps a container running around the clock, so it needs paid access. */
export async function setSleepSettings(s: Services, userId: string, settings: { idleMinutes: number; deepSleepMinutes: number; alwaysOn: boolean }) {
  if (settings.alwaysOn) await requirePaid(s, userId, "Keeping your agent always on");
  const account = userAgent(s.env, userId);
  await account.setIdleTimeout(settings.idleMinutes, settings.deepSleepMinutes);
  await account.setAlwaysOn(settings.alwaysOn);
  return settings;
}
