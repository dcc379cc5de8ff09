import { chown, lstat, mkdir, readdir, readFile, realpath, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";

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
 * The agent's workspace on the node's disk (a bind mount, so it works whether the container runs or sleeps).
 * Every path is resolved inside the workspace: "..", absolute paths and symlinks pointing out are refused.
 */
export class Workspace {
  constructor(private readonly root: string) {}

  private async inside(path: string, mustExist: boolean): Promise<string> {
    if (path.includes("\0") || path.startsWith("/") || path.split(/[\\/]/).includes("..")) throw new Error(`refused path: ${path}`);
    await mkdir(this.root, { recursive: true });
    const base = await realpath(this.root);
    const target = resolve(base, path || ".");
    if (target !== base && !target.startsWith(base + sep)) throw new Error(`refused path: ${path}`);
    // A symlink (planted by the agent or a skill) must not lead the platform outside the workspace.
    const real = await realpath(mustExist ? target : dirname(target)).catch(() => undefined);
    if (mustExist && !real) throw new Error(`no such file: ${path}`);
    if (real && real !== base && !real.startsWith(base + sep)) throw new Error(`refused path: ${path}`);
    return target;
  }

  async run(op: FileOp, path: string, contentB64?: string): Promise<unknown> {
    if (op === "list") {
      const dir = await this.inside(path, true);
      const names = await readdir(dir);
      const entries: FileEntry[] = [];
      for (const name of names) {
        const st = await lstat(join(dir, name));
        if (st.isSymbolicLink()) continue;
        entries.push({ name, type: st.isDirectory() ? "dir" : "file", bytes: st.isDirectory() ? 0 : st.size, modifiedAt: st.mtimeMs });
      }
      return { path: relative(await realpath(this.root), dir), entries: entries.sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === "dir" ? -1 : 1)) };
    }
    if (op === "read") {
      const file = await this.inside(path, true);
      const st = await lstat(file);
      if (!st.isFile()) throw new Error(`not a file: ${path}`);
      if (st.size > MAX_FILE_BYTES) throw new Error(`the file is over ${MAX_FILE_BYTES / 1024} KiB; download it from the agent instead`);
      return { path, bytes: st.size, content: (await readFile(file)).toString("base64") };
    }
    if (op === "write") {
      const data = Buffer.from(contentB64 ?? "", "base64");
      if (data.length > MAX_FILE_BYTES) throw new Error(`the file is over ${MAX_FILE_BYTES / 1024} KiB`);
      const file = await this.inside(path, false);
      // Files the platform writes belong to the workspace's owner (the container's user), so the agent can
      // keep editing them (MEMORY.md especially).
      const owner = await stat(this.root);
      const created = await mkdir(dirname(file), { recursive: true });
      await writeFile(file, data);
      await chown(file, owner.uid, owner.gid);
      // Every directory mkdir created on the way (from the first new one down to the file's folder).
      for (let d = dirname(file); created && d.length >= created.length; d = dirname(d)) await chown(d, owner.uid, owner.gid);
      return { path, bytes: data.length };
    }
    const target = await this.inside(path, true);
    if (target === (await realpath(this.root))) throw new Error("refused: the workspace itself cannot be deleted");
    await rm(target, { recursive: true });
    return { path, deleted: true };
  }
}
