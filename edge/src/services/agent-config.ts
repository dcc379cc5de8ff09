import { and, eq, sql } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { openclawConfig } from "@oc/contracts/openclaw-config";
import type { AgentSpecWire } from "@oc/contracts/wire";
import { planById } from "@oc/contracts/plans";
import { agents } from "@oc/db/schema";
import { userAgent } from "../clients/user-agent";
import { AGENT_MEMORY_MB, placeable } from "@oc/contracts/capacity";
import { randomToken } from "@oc/contracts/crypto";
import { channelContext, hookUrl, type ChannelCredentials } from "./channels/inbound";
import type { RequestMeta, Services } from "./context";
import { currentAgentKeys, ensureAgent, issueProxyKey, newAgentKeys } from "./proxy-keys";
import { audit } from "./audit";
import { billingMail } from "./billing/mail";
import { countProvisionAttempt, requirePaid } from "./entitlement";
import { checkFleet, fleetView } from "./fleet/fleet";
import { MODELS } from "../proxy/catalog";

/**
 * The agent's config: what its container is made of, read, built and handed to the user's Durable Object.
 * `readAgentConfig` reads the settings in one round trip, `agentSpec` turns them (with the agent's keys) into
 * the generated OpenClaw config, persona files, limits and image as a pure function; `applyAgentConfig` hands
 * the result to a placed agent, `provisionAgent` places a new one with it (a node, fresh keys, one RPC).
 * Every feature that changes the container (router model, skills, persona, browser,
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

// ── provisioning: a node, fresh keys, and the config, in one call to the user's Durable Object ────────

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
