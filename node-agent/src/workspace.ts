import { Dir, Refused, splitPath, type Owner } from "./safe-fs";

/** Largest file the File Manager moves in one command (commands and results are kept in DO storage). */
export const MAX_FILE_BYTES = 1024 * 1024;

export type FileOp = "list" | "read" | "write" | "delete";
export interface FileEntry {
  name: string;
  type: "file" | "dir";
  bytes: number;
  modifiedAt: number;
}

/**
 * The agent's workspace (`<state dir>/workspace`) on the node's disk: a bind mount, so it works whether the
 * container runs or sleeps. The tenant controls everything in it, so every operation goes through safe-fs:
 * no link, FIFO, device or hard link is ever followed, read or written, and ".." or absolute paths are
 * refused. Written files and created folders belong to the state dir's owner (the container's user), so
 * the agent can keep editing them (MEMORY.md especially).
 */
export class Workspace {
  constructor(private readonly stateDir: string) {}

  async run(op: FileOp, path: string, contentB64?: string): Promise<unknown> {
    const parts = splitPath(path);
    const data = op === "write" ? Buffer.from(contentB64 ?? "", "base64") : undefined;
    if (data && data.length > MAX_FILE_BYTES) throw new Refused(`the file is over ${MAX_FILE_BYTES / 1024} KiB`);
    const root = await Dir.openRoot(this.stateDir, { create: true });
    try {
      const st = await root.stat();
      const owner = { uid: st.uid, gid: st.gid };
      const ws = await root.sub("workspace", { create: true, owner, rel: "" });
      try {
        return await this.onWorkspace(ws, owner, op, parts, path, data);
      } finally {
        await ws.close();
      }
    } finally {
      await root.close();
    }
  }

  private async onWorkspace(ws: Dir, owner: Owner, op: FileOp, parts: string[], path: string, data: Buffer | undefined) {
    if (op === "list") {
      const dir = await ws.walk(parts);
      try {
        const entries: FileEntry[] = [];
        for (const name of await dir.names()) {
          const st = await dir.entry(name);
          // Only plain files and folders: links, FIFOs and devices are nothing the File Manager can open.
          if (!st || !(st.isFile() || st.isDirectory()) || name.startsWith(".oc-write-")) continue;
          entries.push({ name, type: st.isDirectory() ? "dir" : "file", bytes: st.isDirectory() ? 0 : st.size, modifiedAt: st.mtimeMs });
        }
        return { path: parts.join("/"), entries: entries.sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === "dir" ? -1 : 1)) };
      } finally {
        await dir.close();
      }
    }
    const name = parts.at(-1);
    if (!name)
      throw new Refused(op === "delete" ? "refused: the workspace itself cannot be deleted" : op === "read" ? `not a file: ${path}` : `refused path: ${path}`);
    const dir = await ws.walk(parts.slice(0, -1), op === "write" ? { create: true, owner } : {});
    try {
      if (op === "read") {
        const content = await dir.readFile(name, MAX_FILE_BYTES).catch((e) => {
          throw e instanceof Refused && e.message.startsWith("too large")
            ? new Refused(`the file is over ${MAX_FILE_BYTES / 1024} KiB; download it from the agent instead`)
            : e;
        });
        return { path, bytes: content.length, content: content.toString("base64") };
      }
      if (op === "write") {
        await dir.writeFile(name, data!, { owner });
        return { path, bytes: data!.length };
      }
      await dir.remove(name);
      return { path, deleted: true };
    } finally {
      await dir.close();
    }
  }
}
