import { z } from "zod";
import { AGENT_IMAGE } from "@oc/contracts/agent-image";
import type { FleetSchedulerRpc, NodeLinkRpc, UserAgentRpc } from "@oc/contracts/rpc";

/**
 * The one env schema. Every variable the Worker reads is declared here, checked once per isolate, and
 * described in .env.example. A missing or malformed variable stops every request with BAD_ENVIRONMENT
 * naming it, instead of failing deep inside a handler.
 */
const binding = <T>(name: string) => z.custom<T>((v) => typeof v === "object" && v !== null, { message: `binding ${name} is missing` });

const base64Key = z.string().refine((s) => {
  try {
    return atob(s).length === 32;
  } catch {
    return false;
  }
}, "must be 32 random bytes, base64-encoded (openssl rand -base64 32)");

/** Variables whose only purpose is pointing an SDK at a local stand-in (dev and tests). */
const STAND_IN_OVERRIDES = ["NEON_LOCAL_WSPROXY", "RESEND_BASE_URL", "STRIPE_API_BASE", "HOSTINGER_API_BASE"] as const;

/**
 * In production every provider endpoint the Worker talks to (and hands secrets to) is either left at its
 * default or set to one of the provider's own hosts over https: a base-URL override elsewhere would send API
 * keys, prompts or money movements to whoever runs that host.
 */
const OFFICIAL_HOSTS = {
  OPENAI_BASE_URL: ["api.openai.com"],
  ANTHROPIC_BASE_URL: ["api.anthropic.com"],
  RESEND_BASE_URL: ["api.resend.com"],
  GOOGLE_AUTH_URL: ["accounts.google.com"],
  GOOGLE_TOKEN_URL: ["oauth2.googleapis.com", "www.googleapis.com"],
  GOOGLE_USERINFO_URL: ["openidconnect.googleapis.com", "www.googleapis.com"],
  TELEGRAM_API_BASE: ["api.telegram.org"],
  SLACK_API_BASE: ["slack.com"],
  WHATSAPP_API_BASE: ["graph.facebook.com"],
  DISCORD_API_BASE: ["discord.com"],
  BROWSERLESS_API_BASE: ["*.browserless.io"],
} as const;

function officialEndpointsInProduction(env: Record<string, unknown>, ctx: z.RefinementCtx) {
  if (env.ENVIRONMENT !== "production") return;
  for (const [key, hosts] of Object.entries(OFFICIAL_HOSTS)) {
    const value = env[key];
    if (typeof value !== "string") continue;
    const url = new URL(value);
    const allowed = hosts.some((h) => (h.startsWith("*.") ? url.hostname.endsWith(h.slice(1)) : url.hostname === h));
    if (url.protocol !== "https:" || !allowed || url.port !== "" || url.username || url.password)
      ctx.addIssue({ code: "custom", path: [key], message: `must be unset or https://${hosts.join(" / https://")} in production` });
  }
  // Agents send their proxy key to this address with every model call.
  if (typeof env.AGENT_EDGE_URL === "string" && !env.AGENT_EDGE_URL.startsWith("https://"))
    ctx.addIssue({ code: "custom", path: ["AGENT_EDGE_URL"], message: "must be https:// in production" });
}

export const envSchema = z
  .object({
    ENVIRONMENT: z.enum(["development", "test", "production"]),
    /**
     * "local" only on a developer's machine and in the test suites (scripts/dev.sh, e2e/global-setup.ts,
     * vitest.edge.config.ts set it): turns on /api/dev/* and the stand-in endpoint overrides. Never deployed;
     * production refuses to start with it.
     */
    DEV_MODE: z.enum(["local"]).optional(),
    APP_URL: z.url(),
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// connection string"),
    /** dev/test only: host:port of the local WebSocket-to-TCP bridge standing in for Neon's proxy. */
    NEON_LOCAL_WSPROXY: z.string().optional(),
    ENCRYPTION_KEY: base64Key,
    SESSION_TTL_DAYS: z.coerce.number().int().min(1).max(365).default(30),
    EMAIL_FROM: z.string().min(3).default("OpenClaw Cloud <hello@localhost>"),
    RESEND_API_KEY: z.string().optional(),
    /** Points the Resend SDK at a local server in tests. */
    RESEND_BASE_URL: z.url().optional(),
    GOOGLE_CLIENT_ID: z.string().optional(),
    GOOGLE_CLIENT_SECRET: z.string().optional(),
    GOOGLE_AUTH_URL: z.url().default("https://accounts.google.com/o/oauth2/v2/auth"),
    GOOGLE_TOKEN_URL: z.url().default("https://oauth2.googleapis.com/token"),
    GOOGLE_USERINFO_URL: z.url().default("https://openidconnect.googleapis.com/v1/userinfo"),
    /** Upstream LLM providers, reached through the official SDKs. Base URLs point them elsewhere (dev stand-in). */
    OPENAI_API_KEY: z.string().optional(),
    OPENAI_BASE_URL: z.url().default("https://api.openai.com/v1"),
    ANTHROPIC_API_KEY: z.string().optional(),
    ANTHROPIC_BASE_URL: z.url().default("https://api.anthropic.com"),
    /** How long the proxy waits for an upstream's first byte before answering a timeout. */
    UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(120_000),
    /** The image every agent container runs (built by node-agent/image/build.sh). */
    AGENT_IMAGE: z.string().min(1).default(AGENT_IMAGE),
    /** Agents are reachable at <user-id>.<AGENT_DOMAIN> through each node's Traefik. */
    AGENT_DOMAIN: z
      .string()
      .regex(/^[a-z0-9.-]+\.[a-z]{2,63}$/)
      .default("agents.localhost.example"),
    /** How agent containers reach the edge (its metering proxy); defaults to APP_URL. */
    AGENT_EDGE_URL: z.url().optional(),
    /** Stripe (billing). STRIPE_API_BASE points the SDK at a local stand-in in dev and tests only. */
    STRIPE_SECRET_KEY: z.string().optional(),
    STRIPE_WEBHOOK_SECRET: z.string().optional(),
    STRIPE_API_BASE: z.url().optional(),
    /** Stripe price ids of the monthly plans (contracts/src/plans.ts); dev/test default to price_<plan>. */
    STRIPE_PRICE_STARTER: z.string().optional(),
    STRIPE_PRICE_PRO: z.string().optional(),
    STRIPE_PRICE_MAX: z.string().optional(),
    /** Autoscaling (edge/src/services/fleet/): grow the fleet past this share of committed RAM. */
    FLEET_SCALE_AT: z.coerce.number().min(0.1).max(1).default(0.85),
    FLEET_MAX_NODES: z.coerce.number().int().min(1).max(10_000).default(20),
    FLEET_MAX_MONTHLY_SPEND_CENTS: z.coerce.number().int().min(0).default(50_000),
    /** What one node costs per month (for the spend cap). */
    NODE_MONTHLY_COST_CENTS: z.coerce.number().int().min(0).default(2_599),
    /** A node whose agent has been disconnected this long is marked down and its agents move. */
    NODE_DOWN_AFTER_MS: z.coerce.number().int().min(1000).default(180_000),
    /** Hostinger VPS API (official SDK). Without a token the fleet never orders; the console says it would. */
    HOSTINGER_API_TOKEN: z.string().optional(),
    /** Points the Hostinger SDK at a local stand-in in tests only. */
    HOSTINGER_API_BASE: z.url().optional(),
    HOSTINGER_ITEM_ID: z.string().default("hostingercom-vps-kvm8-usd-1m"),
    HOSTINGER_TEMPLATE_ID: z.coerce.number().int().default(1077),
    HOSTINGER_DATA_CENTER_ID: z.coerce.number().int().default(17),
    HOSTINGER_PAYMENT_METHOD_ID: z.coerce.number().int().optional(),
    /** S3 settings handed to each node at registration, for agent state archives. */
    NODE_S3_ENDPOINT: z.string().optional(),
    NODE_S3_REGION: z.string().default("us-east-1"),
    NODE_S3_BUCKET: z.string().optional(),
    NODE_S3_ACCESS_KEY_ID: z.string().optional(),
    NODE_S3_SECRET_ACCESS_KEY: z.string().optional(),
    /** Chat platforms' APIs (the defaults are the real ones; tests point them at local stand-ins). */
    TELEGRAM_API_BASE: z.url().default("https://api.telegram.org"),
    SLACK_API_BASE: z.url().default("https://slack.com/api"),
    WHATSAPP_API_BASE: z.url().default("https://graph.facebook.com/v21.0"),
    DISCORD_API_BASE: z.url().default("https://discord.com/api/v10"),
    /**
     * Browserless (the agents' remote browser, through its Session API). Without a key the Browser Agent Viewer
     * says the browser is not offered. The base points at a local stand-in in dev and tests.
     */
    BROWSERLESS_API_KEY: z.string().optional(),
    BROWSERLESS_API_BASE: z.url().default("https://production-sfo.browserless.io"),
    /** How long one Browserless session lives; the edge starts a fresh one when it is nearly over. */
    BROWSER_SESSION_TTL_MS: z.coerce
      .number()
      .int()
      .min(60_000)
      .default(7 * 86_400_000),
    /** Let's Encrypt account email for Traefik on new nodes. */
    ACME_EMAIL: z.email().default("ops@example.com"),
    USER_AGENT: binding<Namespace<UserAgentRpc>>("USER_AGENT"),
    NODE_LINK: binding<Namespace<NodeLinkRpc>>("NODE_LINK"),
    FLEET: binding<Namespace<FleetSchedulerRpc>>("FLEET"),
    AUTH_LIMITER: binding<Cloudflare.Env["AUTH_LIMITER"]>("AUTH_LIMITER"),
    ASSETS: binding<Cloudflare.Env["ASSETS"]>("ASSETS").optional(),
  })
  .superRefine((env, ctx) => {
    // Endpoint overrides that exist only to reach a local stand-in: without the local-development flag they
    // would point a deployment's payments, mail, servers or database at whoever the value names.
    if (env.DEV_MODE !== "local")
      for (const key of STAND_IN_OVERRIDES)
        if (env[key]) ctx.addIssue({ code: "custom", path: [key], message: "only with DEV_MODE=local (a local stand-in); unset it in a deployment" });
    if (env.ENVIRONMENT !== "production") return;
    if (env.DEV_MODE) ctx.addIssue({ code: "custom", path: ["DEV_MODE"], message: "must not be set in production" });
    // Production must never fall back to dev conveniences.
    if (!env.RESEND_API_KEY) ctx.addIssue({ code: "custom", path: ["RESEND_API_KEY"], message: "required in production" });
    if (env.NEON_LOCAL_WSPROXY) ctx.addIssue({ code: "custom", path: ["NEON_LOCAL_WSPROXY"], message: "must not be set in production" });
    if (env.HOSTINGER_API_BASE) ctx.addIssue({ code: "custom", path: ["HOSTINGER_API_BASE"], message: "must not be set in production" });
    if (env.STRIPE_API_BASE) ctx.addIssue({ code: "custom", path: ["STRIPE_API_BASE"], message: "must not be set in production" });
    for (const key of [
      "OPENAI_API_KEY",
      "ANTHROPIC_API_KEY",
      "STRIPE_SECRET_KEY",
      "STRIPE_WEBHOOK_SECRET",
      "STRIPE_PRICE_STARTER",
      "STRIPE_PRICE_PRO",
      "STRIPE_PRICE_MAX",
    ] as const)
      if (!env[key]) ctx.addIssue({ code: "custom", path: [key], message: "required in production" });
    if (!env.APP_URL.startsWith("https://")) ctx.addIssue({ code: "custom", path: ["APP_URL"], message: "must be https:// in production" });
  })
  .superRefine(officialEndpointsInProduction);

export type Env = z.infer<typeof envSchema>;

/**
 * Every variable the schema reads is declared in .dev.vars.example, so the generated binding types
 * (worker-configuration.d.ts, `npm run types:worker`) name it too: an undeclared one fails the type-check here.
 */
type Undeclared = Exclude<keyof z.input<typeof envSchema>, keyof Cloudflare.Env>;
const allDeclared: [Undeclared] extends [never] ? true : Undeclared = true;
void allDeclared;

/**
 * A Durable Object namespace typed by the object's RPC interface (contracts/src/rpc.ts), not its class: the
 * edge never imports a Durable Object. The bindings themselves are generated from wrangler.toml into
 * worker-configuration.d.ts (`npm run types:worker`); this fails to compile if a binding is renamed there or
 * its class stops serving the interface the edge calls.
 */
type Namespace<T> = DurableObjectNamespace<T & Rpc.DurableObjectBranded>;
type Serves<Generated, Used> = [Generated] extends [Used] ? true : false;
export type BindingsAgree = [
  Serves<Cloudflare.Env["USER_AGENT"], Env["USER_AGENT"]>,
  Serves<Cloudflare.Env["NODE_LINK"], Env["NODE_LINK"]>,
  Serves<Cloudflare.Env["FLEET"], Env["FLEET"]>,
  Serves<Cloudflare.Env["AUTH_LIMITER"], Env["AUTH_LIMITER"]>,
] extends true[]
  ? true
  : never;
const bindingsAgree: BindingsAgree = true;
void bindingsAgree;

const checked = new WeakMap<object, { env?: Env; problems?: string[] }>();

/** Validates the raw Worker env once per env object; returns the typed env or the list of problems. */
export function loadEnv(raw: object): { env: Env; problems?: never } | { env?: never; problems: string[] } {
  let hit = checked.get(raw);
  if (!hit) {
    const parsed = envSchema.safeParse(raw);
    hit = parsed.success ? { env: parsed.data } : { problems: parsed.error.issues.map((i) => `${i.path.join(".") || "(env)"}: ${i.message}`) };
    checked.set(raw, hit);
    if (hit.problems) console.error(`[env] invalid environment:\n  ${hit.problems.join("\n  ")}`);
  }
  return hit.env ? { env: hit.env } : { problems: hit.problems! };
}
