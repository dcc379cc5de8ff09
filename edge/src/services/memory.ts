import { and, desc, eq, sql } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { memories } from "@oc/db/schema";
import { fromBase64, toBase64 } from "@oc/contracts/crypto";
import { newId } from "@oc/contracts/ids";
import { embed } from "../proxy/embed";
import type { Services } from "./context";
import { callNode } from "./node-call";
import { ensureAgent } from "./proxy-keys";
import { userAgent } from "../clients/user-agent";

/**
 * Memory Manager. Memories the user adds are kept in Postgres with an embedding (pgvector) for semantic
 * search, and synced into the agent's own long-term memory file, MEMORY.md, inside a section the platform
 * owns (between markers), so the agent's own notes in the same file are never touched.
 */
const START = "<!-- openclaw-cloud:memories:start -->";
const END = "<!-- openclaw-cloud:memories:end -->";

export async function listMemories(s: Services, userId: string, query?: string) {
  const agentId = await ensureAgent(s, userId);
  const cols = { id: memories.id, content: memories.content, source: memories.source, createdAt: memories.createdAt };
  if (!query) {
    const rows = await s.db.select(cols).from(memories).where(eq(memories.agentId, agentId)).orderBy(desc(memories.createdAt)).limit(200);
    return rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString(), score: null as number | null }));
  }
  const [vec] = await embed(s.env, [query]);
  const distance = sql<number>`${memories.embedding} <=> ${JSON.stringify(vec)}::vector`;
  const rows = await s.db
    .select({ ...cols, distance })
    .from(memories)
    .where(eq(memories.agentId, agentId))
    .orderBy(distance)
    .limit(20);
  return rows.map(({ distance: d, ...r }) => ({ ...r, createdAt: r.createdAt.toISOString(), score: Math.round((1 - Number(d)) * 1000) / 1000 }));
}

export async function addMemory(s: Services, userId: string, content: string) {
  const agentId = await ensureAgent(s, userId);
  const [vec] = await embed(s.env, [content]);
  const id = newId("mem");
  await s.db.insert(memories).values({ id, agentId, content, source: "user", embedding: vec });
  return { id, synced: await syncMemoryFile(s, userId, agentId) };
}

export async function deleteMemory(s: Services, userId: string, id: string) {
  const agentId = await ensureAgent(s, userId);
  const [row] = await s.db
    .delete(memories)
    .where(and(eq(memories.id, id), eq(memories.agentId, agentId)))
    .returning({ id: memories.id });
  if (!row) throw new AppError("NOT_FOUND", "No such memory.");
  return { synced: await syncMemoryFile(s, userId, agentId) };
}

/** The agent's MEMORY.md as it is now (its own notes and the platform's section). */
export async function readMemoryFile(s: Services, userId: string): Promise<string | null> {
  try {
    const r = await callNode<{ content: string }>(s, userId, { kind: "files", userId, op: "read", path: "MEMORY.md" });
    return new TextDecoder().decode(fromBase64(r.content));
  } catch {
    return null; // not created yet, or the agent's server is unreachable
  }
}

/**
 * Rewrites the platform's section of MEMORY.md from Postgres. Returns false when the agent has no node yet
 * or its node is unreachable (the memories are kept and synced on the next change).
 */
async function syncMemoryFile(s: Services, userId: string, agentId: string): Promise<boolean> {
  if (!(await userAgent(s.env, userId).placement())) return false;
  const rows = await s.db.select({ content: memories.content }).from(memories).where(eq(memories.agentId, agentId)).orderBy(memories.createdAt);
  const section = [START, "## Things my owner asked me to remember", "", ...rows.map((r) => `- ${r.content.replace(/\s+/g, " ")}`), END].join("\n");
  try {
    const current = (await readMemoryFile(s, userId)) ?? "# MEMORY\n";
    const next =
      current.includes(START) && current.includes(END)
        ? current.slice(0, current.indexOf(START)) + section + current.slice(current.indexOf(END) + END.length)
        : `${current.trimEnd()}\n\n${section}\n`;
    await callNode(s, userId, { kind: "files", userId, op: "write", path: "MEMORY.md", content: toBase64(new TextEncoder().encode(next)) });
    return true;
  } catch {
    return false;
  }
}
