import { and, eq } from "drizzle-orm";
import { openclawConfig } from "@oc/contracts/openclaw-config";
import type { AgentSpecWire } from "@oc/contracts/wire";
import { AppError } from "@oc/contracts/errors";
import { planById } from "@oc/contracts/plans";
import { agents, subscriptions } from "@oc/db/schema";
import { checkFleet, fleetView } from "./fleet/fleet";
import { AGENT_MEMORY_MB, placeable } from "@oc/contracts/capacity";
import { randomToken } from "@oc/contracts/crypto";
import { MODELS } from "../proxy/catalog";
import { audit } from "./audit";
import type { RequestMeta, Services } from "./context";
import { ensureAgent, issueProxyKey } from "./proxy-keys";
import { discordBotSettings, slackSettings, telegramSettings } from "./channels/connect";
import { disabledSkills, personaFiles } from "./customize";
import { browserEnabled } from "./browser";
import { whatsappWebConnected } from "./channels/socket-channels";
import { countProvisionAttempt, requirePaid } from "./entitlement";

/**
 * The healthy active node with the most room for `memoryMb` (capacity.ts: RAM minus reserve minus the limits
 * already committed there). With none, the fleet check is nudged to buy one and the user is told.
 */
export async function placeAgent(s: Services, memoryMb = AGENT_MEMORY_MB): Promise<string> {
  const [best] = placeable(await fleetView(s), memoryMb);
  if (!best) {
    s.defer(checkFleet(s));
    throw new AppError("NO_CAPACITY", "No server has room for your agent right now. We have been told and are adding capacity; please try again in a few minutes.");
  }
  return best.id;
}

/** The agent's memory limit: its plan's, or the default before any plan. */
async function memoryFor(s: Services, userId: string) {
  const [sub] = await s.db.select({ planId: subscriptions.planId }).from(subscriptions).where(eq(subscriptions.userId, userId));
  return (sub && planById(sub.planId)?.ramMb) || AGENT_MEMORY_MB;
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

export async function specSettings(s: Services, userId: string, agentId: string): Promise<SpecSettings> {
  const [row] = await s.db.select({ routerMode: agents.routerMode, personality: agents.personality }).from(agents).where(eq(agents.id, agentId));
  return {
    model: row?.routerMode ?? "auto",
    memoryMb: await memoryFor(s, userId),
    telegram: await telegramSettings(s, agentId),
    disabledSkills: await disabledSkills(s, agentId),
    files: personaFiles(row?.personality ?? {}),
    browser: (await browserEnabled(s, agentId)) ? { agentId } : undefined,
    whatsappWeb: await whatsappWebConnected(s, agentId),
    discordBot: await discordBotSettings(s, agentId),
    slack: await slackSettings(s, agentId),
  };
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
export function agentSpec(s: Services, userId: string, keys: { key: string; browserKey: string }, gatewayToken: string, settings: SpecSettings = { model: "auto", memoryMb: AGENT_MEMORY_MB }): AgentSpecWire {
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

/**
 * Issues a new proxy key and, when the agent exists, hands its node the config with the new key (OpenClaw
 * hot-reloads its config file; a sleeping agent gets it on wake). The old key stops working at once.
 */
export async function rotateProxyKey(s: Services, userId: string, meta: RequestMeta) {
  const keys = await issueProxyKey(s, userId, meta);
  const { agentId, key, browserKey } = keys;
  const [row] = await s.db.select({ nodeId: agents.nodeId, gatewayTokenEnc: agents.gatewayTokenEnc }).from(agents).where(eq(agents.id, agentId));
  let appliedToAgent = false;
  if (row?.nodeId && row.gatewayTokenEnc) {
    const spec = agentSpec(s, userId, keys, await s.secrets.decrypt(row.gatewayTokenEnc, `gateway:${agentId}`), await specSettings(s, userId, agentId));
    appliedToAgent = await s.env.USER_AGENT.getByName(userId).reconfigure(await s.secrets.encrypt(JSON.stringify(spec), `spec:${userId}`));
  }
  return { agentId, key, browserKey, appliedToAgent };
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
  const account = s.env.USER_AGENT.getByName(userId);
  await account.init(userId);
  await account.setStatus("queued");
  const settings = await specSettings(s, userId, await ensureAgent(s, userId));
  let nodeId: string;
  try {
    nodeId = await placeAgent(s, settings.memoryMb);
  } catch (e) {
    await account.setStatus("failed", e instanceof AppError ? e.message : "placement failed");
    throw e;
  }
  await account.setPlacement(nodeId);
  await account.setStatus("placing", `on ${nodeId}`);
  const keys = await issueProxyKey(s, userId, meta);
  const { agentId } = keys;
  const gatewayToken = randomToken(24);
  await s.db
    .update(agents)
    .set({ status: "placing", nodeId, gatewayTokenEnc: await s.secrets.encrypt(gatewayToken, `gateway:${agentId}`), updatedAt: new Date() })
    .where(and(eq(agents.id, agentId), eq(agents.userId, userId)));
  const command = { kind: "provision" as const, spec: agentSpec(s, userId, keys, gatewayToken, settings) };
  // Kept (sealed) by the user's Durable Object, which wakes the agent with it later.
  await account.setAgentSpec(await s.secrets.encrypt(JSON.stringify(command.spec), `spec:${userId}`));
  const sent = await s.env.NODE_LINK.getByName(nodeId).sendCommand(command, `provision:${agentId}:${crypto.randomUUID()}`, { onlyIfConnected: true });
  if (!sent.delivered) {
    await account.setStatus("failed", "the chosen server went offline; please try again");
    throw new AppError("NO_CAPACITY", "The chosen server went offline. Please try again.");
  }
  audit(s, meta, userId, "agent.provision", { agentId, nodeId });
  return { agentId, nodeId, status: "placing" as const };
}

/**
 * The Smart Router setting: "auto" (the router picks the cheapest capable model per request) or one fixed
 * model. It lives in the agent's config (the model OpenClaw asks for), so a running agent gets it at once;
 * applying it re-issues the agent's internal proxy key with the new config.
 */
export async function setRouterModel(s: Services, userId: string, model: string, meta: RequestMeta) {
  if (model !== "auto" && !MODELS.some((m) => m.id === model))
    throw new AppError("VALIDATION_FAILED", `Unknown model "${model}". Use "auto" or one of: ${MODELS.map((m) => m.id).join(", ")}.`);
  const agentId = await ensureAgent(s, userId);
  await s.db.update(agents).set({ routerMode: model, updatedAt: new Date() }).where(eq(agents.id, agentId));
  const [row] = await s.db.select({ nodeId: agents.nodeId }).from(agents).where(eq(agents.id, agentId));
  const appliedToAgent = row?.nodeId ? (await rotateProxyKey(s, userId, meta)).appliedToAgent : false;
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
  return s.env.USER_AGENT.getByName(userId).sendMessage(text, session);
}

/** Sleep settings; "always on" keeps a container running around the clock, so it needs paid access. */
export async function setSleepSettings(s: Services, userId: string, settings: { idleMinutes: number; deepSleepMinutes: number; alwaysOn: boolean }) {
  if (settings.alwaysOn) await requirePaid(s, userId, "Keeping your agent always on");
  const account = s.env.USER_AGENT.getByName(userId);
  await account.setIdleTimeout(settings.idleMinutes, settings.deepSleepMinutes);
  await account.setAlwaysOn(settings.alwaysOn);
  return settings;
}
