import { eq } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { nodes } from "@oc/db/schema";
import { sha256Hex, timingSafeEqual } from "@oc/contracts/crypto";
import { archiveKey, isArchiveKeyOf, presign, uploadPlan, type S3Target } from "@oc/contracts/archive-urls";
import type { Services } from "./context";
import { userAgent } from "../clients/user-agent";

/**
 * State archives without storage keys on nodes: the edge holds the S3 credentials and hands a node
 * short-lived presigned URLs for one archive of one user, only while that user's agent is placed on that
 * node. The user's Durable Object records each archive's sha256 and size; the node checks both before it
 * restores, so an archive planted or altered in the bucket is refused.
 */
export async function authenticateNode(s: Services, nodeId: string, authorization: string | undefined): Promise<void> {
  const secret = authorization?.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (!secret) throw new AppError("UNAUTHORIZED", "Node secret missing.");
  const [node] = await s.db.select({ secretHash: nodes.secretHash, status: nodes.status }).from(nodes).where(eq(nodes.id, nodeId));
  if (!node || !timingSafeEqual(node.secretHash, await sha256Hex(secret)) || node.status === "retired")
    throw new AppError("UNAUTHORIZED", "Unknown node or wrong secret.");
}

function target(s: Services): S3Target {
  const e = s.env;
  if (!e.NODE_S3_BUCKET || !e.NODE_S3_ENDPOINT || !e.NODE_S3_ACCESS_KEY_ID || !e.NODE_S3_SECRET_ACCESS_KEY)
    throw new AppError("FEATURE_UNAVAILABLE", "Agent state storage is not configured on the edge (NODE_S3_*).");
  return {
    endpoint: e.NODE_S3_ENDPOINT,
    region: e.NODE_S3_REGION,
    bucket: e.NODE_S3_BUCKET,
    accessKeyId: e.NODE_S3_ACCESS_KEY_ID,
    secretAccessKey: e.NODE_S3_SECRET_ACCESS_KEY,
  };
}

/** The user's agent object, if (and only if) that agent is placed on `nodeId`. */
async function placedHere(s: Services, nodeId: string, userId: string) {
  const agent = userAgent(s.env, userId);
  if ((await agent.placement()) !== nodeId) {
    console.warn(`[archives] node ${nodeId} asked for the archive of ${userId}, which is not placed there: refused`);
    throw new AppError("FORBIDDEN", "That agent is not placed on this node.");
  }
  return agent;
}

export async function archiveUpload(s: Services, nodeId: string, userId: string, input: { bytes: number; sha256: string; key?: string; uploadId?: string }) {
  const t = target(s);
  const agent = await placedHere(s, nodeId, userId);
  if (input.key) {
    // Part URLs only for the upload this node began for this user, with the size it announced then.
    const { pending } = await agent.archiveState();
    if (!pending || pending.key !== input.key || pending.nodeId !== nodeId || pending.bytes !== input.bytes || pending.sha256 !== input.sha256)
      throw new AppError("CONFLICT", "That upload was not begun by this node for this agent.");
    return uploadPlan(t, input.key, input.bytes, input.uploadId);
  }
  const key = archiveKey(userId);
  await agent.beginArchive({ key, sha256: input.sha256, bytes: input.bytes, nodeId });
  return uploadPlan(t, key, input.bytes);
}

export async function archiveComplete(s: Services, nodeId: string, userId: string, key: string) {
  const agent = await placedHere(s, nodeId, userId);
  if (!isArchiveKeyOf(userId, key)) throw new AppError("BAD_REQUEST", "Not an archive key of this agent.");
  const record = await agent.commitArchive(key);
  if (!record) throw new AppError("CONFLICT", "That upload was not begun for this agent (or another began since).");
  return { key: record.key, sha256: record.sha256, bytes: record.bytes };
}

export async function archiveLatest(s: Services, nodeId: string, userId: string) {
  const t = target(s);
  const agent = await placedHere(s, nodeId, userId);
  const record = await agent.latestArchive();
  if (!record) throw new AppError("NOT_FOUND", "This agent has no archive yet.");
  return { key: record.key, sha256: record.sha256, bytes: record.bytes, url: await presign(t, "GET", record.key) };
}
