import { eq } from "drizzle-orm";
import { agents } from "@oc/db/schema";
import { sha256Hex } from "@oc/contracts/crypto";
import { newId } from "@oc/contracts/ids";
import { newBrowserKey } from "../lib/browser-keys";
import { newProxyKey } from "../proxy/keys";
import { audit } from "./audit";
import type { RequestMeta, Services } from "./context";

/** The user's one agent row, created on first need (provisioning fills in the rest). */
export async function ensureAgent(s: Services, userId: string) {
  const [existing] = await s.db.select({ id: agents.id }).from(agents).where(eq(agents.userId, userId));
  if (existing) return existing.id;
  const id = newId("agt");
  await s.db.insert(agents).values({ id, userId, name: "My agent", status: "stopped" }).onConflictDoNothing();
  const [row] = await s.db.select({ id: agents.id }).from(agents).where(eq(agents.userId, userId));
  return row!.id;
}

/**
 * Issues a new proxy key for the user's agent, and with it the agent's browser key (it drives only the
 * agent's remote browser and spends nothing), revoking the previous pair. The plaintexts are returned once
 * (they go into the container's config); Postgres and the user's Durable Object keep only SHA-256 hashes.
 */
export async function issueProxyKey(s: Services, userId: string, meta: RequestMeta) {
  const agentId = await ensureAgent(s, userId);
  const key = newProxyKey(userId);
  const browserKey = newBrowserKey(userId);
  const hash = await sha256Hex(key);
  await s.db.update(agents).set({ proxyKeyHash: hash, updatedAt: new Date() }).where(eq(agents.id, agentId));
  await s.env.USER_AGENT.getByName(userId).setProxyKeyHash(hash, agentId, await sha256Hex(browserKey));
  audit(s, meta, userId, "agent.proxy_key_issued", { agentId });
  return { agentId, key, browserKey };
}
