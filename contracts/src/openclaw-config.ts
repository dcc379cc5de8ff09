import { z } from "zod";

/**
 * The per-tenant openclaw.json. OpenClaw's schema is strict (an unknown key stops the gateway), so every
 * shape produced here is checked by the real `openclaw config validate` in the tests. Choices, all from
 * ../shared/reference/openclaw.md:
 * - every model call goes to our metering proxy with the agent's own proxy key (`models.mode: "replace"`
 *   drops the built-in catalogs, so nothing bypasses it); no upstream key ever enters a container;
 * - the gateway binds `lan` (required behind a Docker bridge) with token auth; the token comes from the
 *   OPENCLAW_GATEWAY_TOKEN env var, never the file;
 * - tool-loop detection on, heartbeat and dreaming off by default (the documented runaway-cost sources),
 *   memory embeddings metered through the proxy too, the admin terminal off.
 */
export const agentConfigInput = z.object({
  /** Public hostname of the agent (Traefik routes it to the container). */
  host: z.string().regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, "must be a lowercase hostname"),
  /** Origin of the edge (the metering proxy lives at <edgeUrl>/v1). */
  edgeUrl: z.url(),
  proxyKey: z.string().startsWith("ocx_"),
  /** The model the agent asks for: "auto" (smart router) or a fixed model id. */
  model: z.string().min(1).default("auto"),
  openaiModels: z.array(z.object({ id: z.string(), contextWindow: z.number().int().positive(), maxTokens: z.number().int().positive() })).min(1),
  anthropicModels: z.array(z.object({ id: z.string(), contextWindow: z.number().int().positive(), maxTokens: z.number().int().positive() })).default([]),
  /** "0m" disables OpenClaw's heartbeat (it runs a paid model turn every 30 min by default). */
  heartbeatEvery: z
    .string()
    .regex(/^\d+[mh]$/)
    .default("0m"),
  dreaming: z.boolean().default(false),
  disabledSkills: z.array(z.string().regex(/^[a-z0-9-]+$/)).default([]),
  /**
   * Telegram in webhook mode: the edge receives Telegram's updates at webhookUrl and forwards them to the
   * container's listener (0.0.0.0:8787/telegram-webhook) with the same secret token.
   */
  /**
   * The agent's remote browser: a CDP endpoint on the edge (the relay to its Browserless session). A
   * `/devtools/browser/<id>` path makes OpenClaw open the WebSocket directly instead of probing /json/version.
   * The agent's browser key (never its proxy key) is the URL's user:password: OpenClaw's CDP profiles take no
   * headers, but it sends URL credentials as `Authorization: Basic` and strips them from what it requests and
   * logs, so the key is never in a request line. Nothing may follow the path (no `?token=`).
   */
  browserCdpUrl: z
    .url()
    .regex(
      /^wss?:\/\/agent:ocb_[\w-]+@[^/@?#]+\/browser\/devtools\/browser\/[\w-]+$/,
      "must be the edge's CDP relay URL with the browser key as its credentials",
    )
    .optional(),
  /**
   * Slack in OpenClaw's HTTP mode: the edge verifies each event, then forwards it unchanged (body and Slack's
   * signature headers) to the gateway's listener, which verifies it again with the signing secret and
   * answers through Slack's API with the bot token.
   */
  slack: z.object({ botToken: z.string().startsWith("xoxb-"), signingSecret: z.string().min(16) }).optional(),
  /**
   * Socket channels through OpenClaw's own plugins, which the image installs officially into each new agent's
   * state (node-agent/image/build.sh): WhatsApp Web (QR login) and a Discord bot on Discord's gateway. Both
   * hold a live connection, so the platform keeps such an agent awake.
   */
  whatsappWeb: z.object({}).optional(),
  discordBot: z.object({ token: z.string().regex(/^[\w-]{20,}\.[\w-]{4,}\.[\w-]{20,}$/, "must be a Discord bot token") }).optional(),
  telegram: z.object({ botToken: z.string().regex(/^\d+:[\w-]+$/), webhookUrl: z.url(), webhookSecret: z.string().regex(/^[\w-]{16,256}$/) }).optional(),
});
export type AgentConfigInput = z.input<typeof agentConfigInput>;

/** Where OpenClaw's Telegram webhook listener runs inside the container. */
export const TELEGRAM_LISTENER = { port: 8787, path: "/telegram-webhook" } as const;
/** Where OpenClaw's Slack HTTP-mode listener runs inside the container (on the gateway port). */
export const SLACK_LISTENER = { port: 18789, path: "/slack/events" } as const;

/** The channel plugins the agent image installs into each agent's state (node-agent/image/build.sh). */
export const SEEDED_CHANNEL_PLUGINS = ["discord", "slack", "whatsapp"] as const;

/** The Control UI inside the agent image (node-agent/image/build.sh installs OpenClaw under /opt/openclaw). */
export const CONTROL_UI_ROOT = "/opt/openclaw/node_modules/openclaw/dist/control-ui";

export function openclawConfig(raw: AgentConfigInput): Record<string, unknown> {
  const i = agentConfigInput.parse(raw);
  const origin = new URL(i.edgeUrl).origin;
  const model = (m: { id: string; contextWindow: number; maxTokens: number }) => ({
    id: m.id,
    name: m.id,
    contextWindow: m.contextWindow,
    maxTokens: m.maxTokens,
  });
  const providers: Record<string, unknown> = {
    meter: { baseUrl: `${origin}/v1`, apiKey: i.proxyKey, api: "openai-completions", models: i.openaiModels.map(model) },
  };
  if (i.anthropicModels.length > 0)
    providers["meter-anthropic"] = { baseUrl: origin, apiKey: i.proxyKey, api: "anthropic-messages", models: i.anthropicModels.map(model) };
  const primary = i.anthropicModels.some((m) => m.id === i.model) ? `meter-anthropic/${i.model}` : `meter/${i.model}`;
  const config: Record<string, unknown> = {
    gateway: {
      mode: "local",
      port: 18789,
      bind: "lan",
      auth: { mode: "token" },
      publicOrigin: `https://${i.host}`,
      // Served straight from the image's read-only package: for a bundled root OpenClaw copies and hashes the
      // whole UI (56 MB, ~1800 files) into the state dir's cache on every start, so tabs opened before a
      // package upgrade keep their assets; in a container the package never changes under a running gateway,
      // and that copy competed with the first answer after every wake (10-40 s of CPU on a 2-core node).
      controlUi: { allowedOrigins: [`https://${i.host}`], root: CONTROL_UI_ROOT },
      terminal: { enabled: false },
      // The platform delivers dashboard/API messages through the gateway's OpenAI-compatible endpoint.
      http: { endpoints: { chatCompletions: { enabled: true } } },
    },
    models: { mode: "replace", providers },
    agents: { defaults: { model: { primary }, heartbeat: { every: i.heartbeatEvery } } },
    tools: { loopDetection: { enabled: true } },
    memory: { search: { provider: "openai-compatible", model: "text-embedding-3-small", remote: { baseUrl: `${origin}/v1/`, apiKey: i.proxyKey } } },
    plugins: { entries: { "memory-core": { config: { dreaming: { enabled: i.dreaming } } } } },
  };
  if (i.telegram)
    config.channels = {
      telegram: {
        enabled: true,
        botToken: i.telegram.botToken,
        // Unknown senders get a pairing code the owner approves, so a leaked bot name cannot spend tokens.
        dmPolicy: "pairing",
        webhookUrl: i.telegram.webhookUrl,
        webhookSecret: i.telegram.webhookSecret,
        webhookHost: "0.0.0.0",
        webhookPort: TELEGRAM_LISTENER.port,
        webhookPath: TELEGRAM_LISTENER.path,
      },
    };
  if (i.browserCdpUrl)
    // A remote browser only: OpenClaw never launches one inside the container.
    // Strict SSRF mode checks CDP endpoints too; the edge is trusted by name (it is a private address in dev).
    config.browser = {
      enabled: true,
      defaultProfile: "remote",
      profiles: { remote: { cdpUrl: i.browserCdpUrl, attachOnly: true } },
      ssrfPolicy: { allowedHostnames: [new URL(i.browserCdpUrl).hostname] },
    };
  // Socket channels through OpenClaw's installed plugins, enabled explicitly; unknown senders get a pairing
  // code the owner approves.
  if (i.whatsappWeb) addChannelPlugin(config, "whatsapp", { enabled: true, dmPolicy: "pairing" });
  if (i.slack)
    addChannelPlugin(config, "slack", {
      enabled: true,
      mode: "http",
      botToken: i.slack.botToken,
      signingSecret: i.slack.signingSecret,
      webhookPath: SLACK_LISTENER.path,
      dmPolicy: "pairing",
    });
  if (i.discordBot) addChannelPlugin(config, "discord", { enabled: true, token: i.discordBot.token, dmPolicy: "pairing" });
  // The image seeds these plugins into every agent (node-agent/image/build.sh): the ones not in use are
  // switched off, so the gateway does not load their code (seconds of CPU before a first answer).
  const entries = (config.plugins as { entries: Record<string, unknown> }).entries;
  for (const id of SEEDED_CHANNEL_PLUGINS) entries[id] ??= { enabled: false };
  if (i.disabledSkills.length > 0) config.skills = { entries: Object.fromEntries(i.disabledSkills.map((s) => [s, { enabled: false }])) };
  return config;
}

function addChannelPlugin(config: Record<string, unknown>, id: string, channel: Record<string, unknown>) {
  const plugins = config.plugins as { entries: Record<string, unknown> };
  config.plugins = { ...plugins, entries: { ...plugins.entries, [id]: { enabled: true } } };
  config.channels = { ...(config.channels as object), [id]: channel };
}
