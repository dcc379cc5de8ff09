import { openclawConfig } from "@oc/contracts/openclaw-config";
import type { AgentSpecWire } from "@oc/contracts/wire";
import { AGENT_MEMORY_MB } from "@oc/contracts/capacity";
import { MODELS } from "../proxy/catalog";
import type { Services } from "./context";

/**
 * What the agent's container is made of, as a pure function of the user's settings: the generated OpenClaw
 * config with the agent's keys, its persona files, limits and image. Reading the settings and pushing the
 * result is agent-config.ts's job; nothing here touches storage.
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
