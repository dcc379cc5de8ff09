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
});
export type NodeMetrics = z.infer<typeof nodeMetrics>;

/** Frames the node agent sends to the edge. */
export const agentFrame = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("hello"),
    protocol: z.literal(PROTOCOL_VERSION),
    agentVersion: z.string().max(64),
    metrics: nodeMetrics,
  }),
  z.object({ type: z.literal("heartbeat"), metrics: nodeMetrics }),
  z.object({
    type: z.literal("result"),
    id: z.string().min(1).max(100),
    ok: z.boolean(),
    result: z.unknown().optional(),
    error: z.string().max(2000).optional(),
  }),
]);
export type AgentFrame = z.infer<typeof agentFrame>;

/** Frames the edge sends to the node agent. Command kinds grow with the node-agent issue. */
export const edgeFrame = z.discriminatedUnion("type", [
  z.object({ type: z.literal("welcome"), nodeId: z.string(), heartbeatMs: z.number().int().positive() }),
  z.object({
    type: z.literal("command"),
    id: z.string().min(1).max(100),
    command: z.discriminatedUnion("kind", [
      z.object({ kind: z.literal("ping") }),
      z.object({ kind: z.literal("listContainers") }),
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
