import { bigint, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, boolean } from "drizzle-orm/pg-core";
import { users } from "./accounts";
import { timestamps } from "./util";

/** A worker VPS running the node agent. */
export const nodes = pgTable("nodes", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  provider: text("provider").notNull().default("manual"),
  providerRef: text("provider_ref"),
  status: text("status", { enum: ["registering", "active", "draining", "retired", "down"] }).notNull(),
  /** SHA-256 of the node's secret; the agent presents the secret when it dials the edge. */
  secretHash: text("secret_hash").notNull(),
  publicIp: text("public_ip"),
  ramTotalMb: integer("ram_total_mb").notNull().default(0),
  ramCommittedMb: integer("ram_committed_mb").notNull().default(0),
  lastHeartbeatAt: timestamp("last_heartbeat_at", { withTimezone: true }),
  ...timestamps,
});

/**
 * One-time tokens a new VPS presents to register itself (server-setup.sh). Only the SHA-256 is stored; a
 * token works once and expires.
 */
export const nodeRegistrationTokens = pgTable("node_registration_tokens", {
  id: text("id").primaryKey(),
  tokenHash: text("token_hash").notNull().unique(),
  createdBy: text("created_by"),
  /** Why it was made: "operator" by hand, or the autoscaler's order reference. */
  purpose: text("purpose").notNull().default("operator"),
  expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
  usedAt: timestamp("used_at", { withTimezone: true }),
  nodeId: text("node_id"),
  ...timestamps,
});

/** One OpenClaw agent per user. */
export const agents = pgTable(
  "agents",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    // No status here: the agent's status has one owner, the user's UserAgent Durable Object.
    nodeId: text("node_id").references(() => nodes.id),
    /** SHA-256 of the per-agent proxy key; the plaintext lives only inside the container's config. */
    proxyKeyHash: text("proxy_key_hash"),
    gatewayTokenEnc: text("gateway_token_enc"),
    personality: jsonb("personality").$type<Record<string, string>>().notNull().default({}),
    routerMode: text("router_mode").notNull().default("auto"),
    idleTimeoutMin: integer("idle_timeout_min").notNull().default(30),
    stateVersion: text("state_version"),
    ...timestamps,
  },
  (t) => [uniqueIndex("agents_user_uq").on(t.userId)],
);

export const channels = pgTable(
  "channels",
  {
    id: text("id").primaryKey(),
    agentId: text("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    /** whatsapp: the Cloud API (bridged); whatsapp_web: OpenClaw's own QR-linked WhatsApp Web plugin. */
    kind: text("kind", { enum: ["telegram", "slack", "discord", "whatsapp", "whatsapp_web"] }).notNull(),
    /** Channel credentials, AES-256-GCM encrypted JSON. */
    credentialsEnc: text("credentials_enc").notNull(),
    webhookSecretHash: text("webhook_secret_hash"),
    status: text("status", { enum: ["connected", "disconnected", "error"] }).notNull(),
    ...timestamps,
  },
  (t) => [uniqueIndex("channels_agent_kind_uq").on(t.agentId, t.kind)],
);

export const skillSettings = pgTable(
  "skill_settings",
  {
    agentId: text("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    skill: text("skill").notNull(),
    enabled: boolean("enabled").notNull(),
    ...timestamps,
  },
  (t) => [uniqueIndex("skill_settings_uq").on(t.agentId, t.skill)],
);

export const templates = pgTable("templates", {
  id: text("id").primaryKey(),
  authorId: text("author_id").references(() => users.id, { onDelete: "set null" }),
  name: text("name").notNull(),
  description: text("description").notNull(),
  config: jsonb("config").$type<Record<string, unknown>>().notNull(),
  published: boolean("published").notNull().default(false),
  uses: bigint("uses", { mode: "number" }).notNull().default(0),
  ...timestamps,
});

/**
 * The agent's remote browser: one Browserless session (Session API) per agent, so the agent and the owner's
 * Browser Agent Viewer look at the same browser. The session's URLs carry the operator's Browserless token,
 * so they are sealed here and never reach the container (it connects through the edge's CDP relay).
 */
export const browserSessions = pgTable(
  "browser_sessions",
  {
    agentId: text("agent_id")
      .primaryKey()
      .references(() => agents.id, { onDelete: "cascade" }),
    sessionId: text("session_id").notNull(),
    /** AES-256-GCM sealed JSON: { connect, stop }. */
    urlsEnc: text("urls_enc").notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    ...timestamps,
  },
  (t) => [index("browser_sessions_expires_idx").on(t.expiresAt)],
);
