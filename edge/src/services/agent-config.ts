import { eq, sql } from "drizzle-orm";
import { openclawConfig } from "@oc/contracts/openclaw-config";
import type { AgentSpecWire } from "@oc/contracts/wire";
import { planById } from "@oc/contracts/plans";
import { agents } from "@oc/db/schema";
import { userAgent } from "../clients/user-agent";
import { AGENT_MEMORY_MB } from "@oc/contracts/capacity";
import { hookUrl } from "./channels/connect";
import { channelContext, type ChannelCredentials } from "./channels/inbound";
import type { RequestMeta, Services } from "./context";
import { currentAgentKeys, issueProxyKey } from "./proxy-keys";
import { MODELS } from "../proxy/catalog";

/**
 * The agent's config: what its container is made of, read, built and applied. `readAgentConfig` reads the
 * settings in one round trip, `agentSpec` turns them (with the agent's keys) into the generated OpenClaw
 * config, persona files, limits and image as a pure function, and `applyAgentConfig` hands the result to the
 * user's Durable Object. Every feature that changes the container (router model, skills, persona, browser,
 * channels) writes its own table and then calls `applyAgentConfig`; nothing here knows those features, so
 * they depend on this module and never the other way round.
 */

export interface Personality {
  name: string;
  tone: string;
  language: string;
  instructions: string;
}

/** The user's settings that shape the agent's config: router model, plan memory, connected Telegram bot. */
export interface SpecSettings {
  model: string;
  memoryMb: number;
  telegram?: { botToken: string; webhookUrl: string; webhookSecret: string };
  disabledSkills?: string[];
  files?: Record<string, string>;
  /** Set when the owner turned the agent's remote browser on (services/browser.ts). */
  browser?: { agentId: string };
  /** OpenClaw's WhatsApp Web plugin (QR login) is on. */
  whatsappWeb?: boolean;
  /** A Discord bot through OpenClaw's Discord plugin. */
  discordBot?: { token: string };
  /** Slack through OpenClaw's Slack plugin in HTTP mode. */
  slack?: { botToken: string; signingSecret: string };
}

/**
 * Where the agent's OpenClaw opens its remote browser: the edge's CDP relay (edge/src/browser-relay.ts). The
 * browser key rides as the URL's user:password, which OpenClaw sends as an Authorization header (and strips
 * from the URL it requests and logs), since its CDP profiles take no headers of their own.
 */
export function browserRelayUrl(edgeUrl: string, agentId: string, browserKey: string) {
  const u = new URL(edgeUrl);
  return `${u.protocol === "https:" ? "wss:" : "ws:"}//agent:${browserKey}@${u.host}/browser/devtools/browser/${agentId}`;
}

/** Everything a node needs to run the user's agent: the generated OpenClaw config with its proxy key, limits, image. */
export function agentSpec(
  s: Services,
  userId: string,
  keys: { key: string; browserKey: string },
  gatewayToken: string,
  settings: SpecSettings = { model: "auto", memoryMb: AGENT_MEMORY_MB },
): AgentSpecWire {
  const proxyKey = keys.key;
  const { model, memoryMb } = settings;
  const host = `${userId.replace(/_/g, "-")}.${s.env.AGENT_DOMAIN}`;
  const edgeUrl = s.env.AGENT_EDGE_URL ?? s.env.APP_URL;
  const entry = (m: (typeof MODELS)[number]) => ({ id: m.id, contextWindow: m.contextWindow, maxTokens: Math.min(m.maxOutput, 8192) });
  const config = openclawConfig({
    host,
    edgeUrl,
    proxyKey,
    model,
    openaiModels: [{ id: "auto", contextWindow: 200_000, maxTokens: 8192 }, ...MODELS.filter((m) => m.api === "openai").map(entry)],
    anthropicModels: MODELS.filter((m) => m.api === "anthropic").map(entry),
    telegram: settings.telegram,
    disabledSkills: settings.disabledSkills ?? [],
    browserCdpUrl: settings.browser ? browserRelayUrl(edgeUrl, settings.browser.agentId, keys.browserKey) : undefined,
    whatsappWeb: settings.whatsappWeb ? {} : undefined,
    discordBot: settings.discordBot,
    slack: settings.slack,
  });
  return { userId, image: s.env.AGENT_IMAGE, host, config, gatewayToken, memoryMb, cpus: 2, pidsLimit: 512, user: "1000:1000", files: settings.files };
}

/** The persona files OpenClaw reads from its workspace (none when the user kept the defaults). */
export function personaFiles(p: Partial<Personality>): Record<string, string> | undefined {
  if (!p.name && !p.tone && !p.instructions && !p.language) return undefined;
  const name = p.name || "your assistant";
  return {
    "workspace/IDENTITY.md": `# IDENTITY\n\n- **Name:** ${name}\n${p.tone ? `- **Vibe:** ${p.tone}\n` : ""}`,
    "workspace/SOUL.md": [
      "# SOUL",
      "",
      `You are ${name}, a personal assistant.`,
      p.tone ? `Your tone: ${p.tone}.` : "",
      p.language ? `Answer in ${p.language} unless you are asked to use another language.` : "",
      "",
      ...(p.instructions ? ["## What your owner asks of you", "", p.instructions] : []),
      "",
    ]
      .filter((l, i, all) => l !== "" || all[i - 1] !== "")
      .join("\n"),
  };
}

// ── reading the settings, and applying the config ─────────────────────────────────────────────────

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
