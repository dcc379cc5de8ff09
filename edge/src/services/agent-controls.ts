import { eq } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { agents } from "@oc/db/schema";
import { MODELS } from "../proxy/catalog";
import { audit } from "./audit";
import type { RequestMeta, Services } from "./context";
import { ensureAgent } from "./proxy-keys";
import { applyAgentConfig } from "./agent-config";
import { requirePaid } from "./entitlement";
import { userAgent } from "../clients/user-agent";

/**
 * What the owner does with an agent once it exists: the Smart Router's model (part of its config, applied to
 * a running agent at once), a message for it (which wakes it) and how it sleeps. Messages and "always on"
 * keep a container busy, so they need paid access.
 */

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
