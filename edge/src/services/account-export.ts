import { asc, eq } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { agents, memories, users } from "@oc/db/schema";
import { fromBase64 } from "@oc/contracts/crypto";
import { zipStream } from "../lib/zip";
import type { Services } from "./context";
import { callNode } from "./node-call";
import { userAgent } from "../clients/user-agent";

/** How much of the agent's workspace an export walks (its files are small text files, each ≤ 1 MiB). */
const MAX_FILES = 300;
const MAX_DEPTH = 4;

interface FileEntry {
  name: string;
  type: "file" | "dir";
}

/**
 * "Export my data": a zip streamed as it is built, with the account, the memories, the conversations (the
 * agent's inbox and the stored conversation threads) and the agent's workspace files (read from its node).
 * When the node cannot be reached the zip still comes, with a note saying the files are missing and why.
 */
export async function exportAccount(s: Services, userId: string): Promise<ReadableStream<Uint8Array>> {
  const [user] = await s.db
    .select({ id: users.id, email: users.email, name: users.name, createdAt: users.createdAt, timezone: users.timezone })
    .from(users)
    .where(eq(users.id, userId));
  if (!user) throw new AppError("NOT_FOUND", "No such account.");
  const zip = zipStream();
  s.defer(
    (async () => {
      try {
        const [agent] = await s.db
          .select({ id: agents.id, name: agents.name, personality: agents.personality, routerMode: agents.routerMode })
          .from(agents)
          .where(eq(agents.userId, userId));
        await zip.add("account.json", JSON.stringify({ ...user, createdAt: user.createdAt.toISOString(), agent: agent ?? null }, null, 2));
        const mems = agent
          ? await s.db
              .select({ id: memories.id, content: memories.content, source: memories.source, createdAt: memories.createdAt })
              .from(memories)
              .where(eq(memories.agentId, agent.id))
              .orderBy(asc(memories.createdAt))
          : [];
        await zip.add(
          "memories.json",
          JSON.stringify(
            mems.map((m) => ({ ...m, createdAt: m.createdAt.toISOString() })),
            null,
            2,
          ),
        );
        const inbox = await userAgent(s.env, userId).listMessages(200);
        await zip.add(
          "conversations.json",
          JSON.stringify(
            {
              messages: inbox.reverse().map((m) => ({ at: new Date(m.at).toISOString(), session: m.session, text: m.text, reply: m.reply, error: m.error })),
            },
            null,
            2,
          ),
        );
        const missing = agent ? await addWorkspace(s, userId, zip.add) : "Your agent has not been created, so it has no files.";
        if (missing) await zip.add("files/README.txt", `The agent's files are not in this export: ${missing}\n`);
      } finally {
        await zip.close();
      }
    })(),
  );
  return zip.readable;
}

/** Adds the workspace's files under files/; returns why they are missing, or undefined when they are in. */
async function addWorkspace(s: Services, userId: string, add: (name: string, content: Uint8Array) => Promise<void>): Promise<string | undefined> {
  let count = 0;
  const walk = async (dir: string, depth: number): Promise<void> => {
    const listing = await callNode<{ entries: FileEntry[] }>(s, userId, { kind: "files", userId, op: "list", path: dir || "." });
    for (const e of listing.entries) {
      if (count >= MAX_FILES) return;
      const path = dir ? `${dir}/${e.name}` : e.name;
      if (e.type === "dir") {
        if (depth < MAX_DEPTH) await walk(path, depth + 1);
        continue;
      }
      const file = await callNode<{ content: string }>(s, userId, { kind: "files", userId, op: "read", path }).catch(() => undefined);
      if (!file) continue; // too large or vanished meanwhile
      await add(`files/${path}`, fromBase64(file.content));
      count++;
    }
  };
  try {
    await walk("", 0);
    return undefined;
  } catch (e) {
    return e instanceof AppError ? e.message : "the agent's server could not read them";
  }
}
