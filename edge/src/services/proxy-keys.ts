import { eq } from "drizzle-orm";
import { agents } from "@oc/db/schema";
import { sha256Hex } from "@oc/contracts/crypto";
import { newId } from "@oc/contracts/ids";
import { newBrowserKey } from "../lib/browser-keys";
import { newProxyKey } from "../proxy/keys";
import { audit } from "./audit";
import type { RequestMeta, Services } from "./context";
import { userAgent } from "../clients/user-agent";

/** The user's one agent row, created on first need (provisioning fills in the rest). */
export async function ensureAgent(s: Services, userId: string) {
  const [existing] = await s.db.select({ id: agents.id }).from(agents).where(eq(agents.userId, userId));
  if (existing) return existing.id;
  const id = newId("agt");
  await s.db.insert(agents).values({ id, userId, name: "My agent" }).onConflictDoNothing();
  const [row] = await s.db.select({ id: agents.id }).from(agents).where(eq(agents.userId, userId));
  return row!.id;
}

/**
 * A fresh pair of keys for the user's agent: the proxy key (model calls) and the browser key (it drives only
 * the agent's remote browser and spends nothing). The plaintexts go into the container's config; Postgres
 * keeps only the proxy key's SHA-256, the user's Durable Object both hashes and the pair sealed with
 * ENCRYPTION_KEY, so the agent's config can be re-applied later without replacing the keys.
 */
export async function newAgentKeys(s: Services, userId: string) {
  const key = newProxyKey(userId);
  const browserKey = newBrowserKey(userId);
  return {
    key,
    browserKey,
    hash: await sha256Hex(key),
    browserKeyHash: await sha256Hex(browserKey),
    keysSealed: await s.secrets.encrypt(JSON.stringify({ key, browserKey }), `keys:${userId}`),
  };
}

/** The keys the agent runs with now (null when they were issued before the Durable Object kept them). */
export async function currentAgentKeys(s: Services, userId: string): Promise<{ key: string; browserKey: string } | null> {
  const sealed = await userAgent(s.env, userId).agentKeys();
  return sealed ? (JSON.parse(await s.secrets.decrypt(sealed, `keys:${userId}`)) as { key: string; browserKey: string }) : null;
}

/** Issues a new key pair for the user's agent, revoking the previous pair at once. */
export async function issueProxyKey(s: Services, userId: string, meta: RequestMeta) {
  const agentId = await ensureAgent(s, userId);
  const k = await newAgentKeys(s, userId);
  await s.db.update(agents).set({ proxyKeyHash: k.hash, updatedAt: new Date() }).where(eq(agents.id, agentId));
  await userAgent(s.env, userId).setProxyKeyHash(k.hash, agentId, k.browserKeyHash, k.keysSealed);
  audit(s, meta, userId, "agent.proxy_key_issued", { agentId });
  return { agentId, key: k.key, browserKey: k.browserKey };
}
