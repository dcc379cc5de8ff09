import { z } from "zod";

/**
 * The wire protocol between a node agent and its `NodeLink` Durable Object, one schema for both ends.
 * Every frame is JSON with a `type`. Commands carry an `id` so that a repeat after a reconnect is
 * recognised by the agent and answered from its memory instead of being executed twice.
 */
export const PROTOCOL_VERSION = 1;

export const nodeMetrics = z.object({
  ramTotalMb: z.number().int().nonnegative(),
  ramUsedMb: z.number().int().nonnegative(),
  cpuPercent: z.number().min(0).max(100),
  diskTotalMb: z.number().int().nonnegative(),
  diskUsedMb: z.number().int().nonnegative(),
  containerCount: z.number().int().nonnegative(),
  /** The node's swap (dozing agents are pushed into compressed swap: zram, or zswap with a swap file). */
  swap: z
    .object({ kind: z.enum(["zram", "zswap", "disk", "none"]), totalMb: z.number().int().nonnegative(), freeMb: z.number().int().nonnegative() })
    .optional(),
  /** What each managed container really holds, from its cgroup: RAM, and swapped pages with the RAM they take compressed. */
  agents: z
    .array(
      z.object({
        userId: z.string().max(64),
        state: z.string().max(20),
        residentMb: z.number().int().nonnegative(),
        swappedMb: z.number().int().nonnegative(),
        compressedMb: z.number().int().nonnegative(),
      }),
    )
    .max(10_000)
    .optional(),
  /** Dozes that gave memory back, and those that fell back to a plain freeze, by reason. */
  doze: z.object({ reclaims: z.number().int().nonnegative(), fallbacks: z.record(z.string().max(200), z.number().int().nonnegative()) }).optional(),
});
export type NodeMetrics = z.infer<typeof nodeMetrics>;

/** Everything a node needs to run one user's agent container. */
export const agentSpec = z.object({
  userId: z.string().regex(/^usr_[a-z2-7]{24}$/),
  image: z.string().min(1).max(200),
  host: z.string().min(1).max(253),
  config: z.record(z.string(), z.unknown()),
  gatewayToken: z.string().min(32).max(128),
  memoryMb: z.number().int().min(256).max(65536),
  cpus: z.number().positive().max(64),
  pidsLimit: z.number().int().min(32).max(65536),
  user: z
    .string()
    .regex(/^\d+:\d+$/)
    .optional(),
  /** Files seeded into the agent's workspace (persona files from the Personality Editor). */
  files: z.record(z.string().regex(/^workspace\/[A-Za-z0-9_-]+\.md$/), z.string().max(20_000)).optional(),
});
export type AgentSpecWire = z.infer<typeof agentSpec>;

/** One managed container as the node sees it (for reconciliation after a reconnect). */
export const containerReport = z.object({ userId: z.string().max(64), state: z.string().max(20) });
export type ContainerReport = z.infer<typeof containerReport>;

export const PROGRESS_STEPS = ["creating", "starting", "ready"] as const;

/** Frames the node agent sends to the edge. */
export const agentFrame = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("hello"),
    protocol: z.literal(PROTOCOL_VERSION),
    agentVersion: z.string().max(64),
    metrics: nodeMetrics,
    /** Every managed container on the node; the edge fixes drift from it. */
    containers: z.array(containerReport).max(10_000).default([]),
  }),
  z.object({ type: z.literal("heartbeat"), metrics: nodeMetrics }),
  z.object({ type: z.literal("progress"), id: z.string().min(1).max(100), userId: z.string().max(64), step: z.enum(PROGRESS_STEPS) }),
  z.object({
    type: z.literal("result"),
    id: z.string().min(1).max(100),
    ok: z.boolean(),
    result: z.unknown().optional(),
    error: z.string().max(2000).optional(),
  }),
]);
export type AgentFrame = z.infer<typeof agentFrame>;

/** Frames the edge sends to the node agent: commands with ids, answered by a `result` frame. */
export const edgeFrame = z.discriminatedUnion("type", [
  z.object({ type: z.literal("welcome"), nodeId: z.string(), heartbeatMs: z.number().int().positive() }),
  z.object({
    type: z.literal("command"),
    id: z.string().min(1).max(100),
    command: z.discriminatedUnion("kind", [
      z.object({ kind: z.literal("ping") }),
      z.object({ kind: z.literal("listContainers") }),
      z.object({ kind: z.literal("provision"), spec: agentSpec }),
      z.object({ kind: z.literal("wake"), spec: agentSpec }),
      z.object({ kind: z.literal("configure"), spec: agentSpec }),
      z.object({ kind: z.literal("sleep"), userId: z.string().max(64) }),
      z.object({ kind: z.literal("pause"), userId: z.string().max(64) }),
      // erase: the account is deleted: the node also removes the agent's local state and its S3 archives.
      z.object({ kind: z.literal("remove"), userId: z.string().max(64), erase: z.boolean().optional() }),
      z.object({ kind: z.literal("deliver"), userId: z.string().max(64), session: z.string().min(1).max(200), text: z.string().min(1).max(100_000) }),
      /** The agent's workspace files (File Manager, Memory Manager); paths are relative to the workspace. */
      z.object({
        kind: z.literal("files"),
        userId: z.string().max(64),
        op: z.enum(["list", "read", "write", "delete"]),
        path: z.string().max(500),
        /** base64, for `write` (at most 1 MiB of content: results and commands live in Durable Object storage). */
        content: z.string().max(1_400_000).optional(),
      }),
      /** The agent's scheduled jobs (Cron Scheduler), managed with OpenClaw's own CLI inside the container. */
      z.object({
        kind: z.literal("cron"),
        userId: z.string().max(64),
        op: z.enum(["list", "add", "rm"]),
        id: z
          .string()
          .regex(/^[\w-]{1,100}$/)
          .optional(),
        job: z
          .object({
            name: z.string().min(1).max(80),
            cron: z.string().min(9).max(100),
            message: z.string().min(1).max(2000),
            tz: z.string().max(64).optional(),
          })
          .optional(),
      }),
      /** OpenClaw's QR login (WhatsApp Web): its gateway RPC `web.login.start` / `web.login.wait`, run in the container. */
      z.object({
        kind: z.literal("channelLogin"),
        userId: z.string().max(64),
        channel: z.enum(["whatsapp"]),
        op: z.enum(["start", "wait"]),
        sessionKey: z.string().max(500).optional(),
      }),
      /** A raw channel update (e.g. Telegram's webhook body) for the container's own listener. */
      z.object({
        kind: z.literal("forward"),
        userId: z.string().max(64),
        port: z.number().int().min(1).max(65535),
        path: z
          .string()
          .regex(/^\/[\w./-]*$/)
          .max(200),
        headers: z.record(z.string(), z.string().max(2000)),
        body: z.string().max(1_000_000),
      }),
    ]),
  }),
  z.object({ type: z.literal("error"), message: z.string() }),
]);
export type EdgeFrame = z.infer<typeof edgeFrame>;

/** Parses one text frame; returns undefined (never throws) on anything malformed. */
export function parseFrame<T extends z.ZodType>(schema: T, raw: string | ArrayBuffer): z.infer<T> | undefined {
  if (typeof raw !== "string") return undefined;
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(data);
  return parsed.success ? parsed.data : undefined;
}
