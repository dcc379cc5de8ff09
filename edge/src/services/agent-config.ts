import { eq, sql } from "drizzle-orm";
import { planById } from "@oc/contracts/plans";
import { agents } from "@oc/db/schema";
import { userAgent } from "../clients/user-agent";
import { AGENT_MEMORY_MB } from "@oc/contracts/capacity";
import { agentSpec, personaFiles, type SpecSettings } from "./agent-spec";
import { channelContext, hookUrl, type ChannelCredentials } from "./channels/connect";
import type { RequestMeta, Services } from "./context";
import { currentAgentKeys, issueProxyKey } from "./proxy-keys";

/**
 * The agent's config, read and applied. Every feature that changes what the agent's container is made of
 * (router model, skills, persona, browser, channels) writes its own table and then calls `applyAgentConfig`;
 * nothing here knows those features, so they depend on this module and never the other way round.
 */

export interface AgentConfigRow {
  agentId: string;
  nodeId: string | null;
  gatewayTokenEnc: string | null;
  settings: SpecSettings;
}

/**
 * Everything the agent's spec is built from, in one round trip to Postgres: the agent row, its plan's memory,
 * its connected channels (credentials decrypted here), its disabled skills and whether its browser is on.
 */
export async function readAgentConfig(s: Services, userId: string): Promise<AgentConfigRow | undefined> {
  const [row] = await s.db
    .select({
      agentId: agents.id,
      nodeId: agents.nodeId,
      gatewayTokenEnc: agents.gatewayTokenEnc,
      routerMode: agents.routerMode,
      personality: agents.personality,
      // Table-qualified by hand: drizzle leaves the columns of a one-table select unqualified, which inside
      // these subqueries would name the inner table's own columns.
      planId: sql<string | null>`(SELECT s.plan_id FROM subscriptions s WHERE s.user_id = agents.user_id)`,
      channels: sql<{ kind: string; creds: string }[]>`(SELECT coalesce(json_agg(json_build_object('kind', c.kind, 'creds', c.credentials_enc)), '[]'::json)
        FROM channels c WHERE c.agent_id = agents.id AND c.status = 'connected')`,
      disabledSkills: sql<string[]>`(SELECT coalesce(json_agg(k.skill), '[]'::json) FROM skill_settings k WHERE k.agent_id = agents.id AND NOT k.enabled)`,
      browser: sql<boolean>`EXISTS (SELECT 1 FROM browser_sessions b WHERE b.agent_id = agents.id)`,
    })
    .from(agents)
    .where(eq(agents.userId, userId));
  if (!row) return undefined;
  const { agentId } = row;
  const connected = new Map(row.channels.map((c) => [c.kind, c.creds]));
  const creds = async <K extends keyof ChannelCredentials>(kind: K) => {
    const sealed = connected.get(kind);
    return sealed ? (JSON.parse(await s.secrets.decrypt(sealed, channelContext(agentId, kind))) as ChannelCredentials[K]) : undefined;
  };
  const [tg, slack, discord] = await Promise.all([creds("telegram"), creds("slack"), creds("discord")]);
  return {
    agentId,
    nodeId: row.nodeId,
    gatewayTokenEnc: row.gatewayTokenEnc,
    settings: {
      model: row.routerMode ?? "auto",
      memoryMb: (row.planId && planById(row.planId)?.ramMb) || AGENT_MEMORY_MB,
      telegram: tg ? { botToken: tg.botToken, webhookSecret: tg.webhookSecret, webhookUrl: hookUrl(s, "telegram", agentId) } : undefined,
      disabledSkills: [...row.disabledSkills].sort(),
      files: personaFiles(row.personality ?? {}),
      browser: row.browser ? { agentId } : undefined,
      whatsappWeb: connected.has("whatsapp_web"),
      discordBot: discord?.botToken ? { token: discord.botToken } : undefined,
      slack: slack ? { botToken: slack.botToken, signingSecret: slack.signingSecret } : undefined,
    },
  };
}

/**
 * Builds the agent's spec from its current settings and hands it to the user's Durable Object, which keeps it
 * for the next wake and writes it into a running container (OpenClaw restarts on it). Returns whether it
 * reached a running agent. The agent keeps its keys; only an agent whose keys predate the object keeping
 * them gets a fresh pair here.
 */
export async function applyAgentConfig(s: Services, userId: string, meta: RequestMeta, keys?: { key: string; browserKey: string }): Promise<boolean> {
  const cfg = await readAgentConfig(s, userId);
  if (!cfg?.nodeId || !cfg.gatewayTokenEnc) return false;
  const current = keys ?? (await currentAgentKeys(s, userId));
  if (!current) return (await rotateProxyKey(s, userId, meta)).appliedToAgent;
  const spec = agentSpec(s, userId, current, await s.secrets.decrypt(cfg.gatewayTokenEnc, `gateway:${cfg.agentId}`), cfg.settings);
  return userAgent(s.env, userId).reconfigure(await s.secrets.encrypt(JSON.stringify(spec), `spec:${userId}`));
}

/**
 * Issues a new proxy key (and browser key) and applies the config with it: the old key stops working at
 * once, and a running agent gets the new one in its config (a sleeping agent gets it on wake).
 */
export async function rotateProxyKey(s: Services, userId: string, meta: RequestMeta) {
  const keys = await issueProxyKey(s, userId, meta);
  const appliedToAgent = await applyAgentConfig(s, userId, meta, keys);
  return { ...keys, appliedToAgent };
}
