import { randomBytes } from "node:crypto";
import { constants as C, createWriteStream, type Stats } from "node:fs";
import { lchown, lstat, mkdir, open, readdir, readlink, rename, rmdir, unlink, type FileHandle } from "node:fs/promises";
import { pipeline } from "node:stream/promises";

/**
 * File operations inside a directory tree that a hostile tenant controls (an agent's state dir, bind-mounted
 * into its container), done as root on the host without ever following a link the tenant planted.
 *
 * Node has no openat(2), so every directory is held open and its entries are named through
 * `/proc/self/fd/<fd>/<name>`: the kernel resolves that from the open directory itself (the fd's own dentry,
 * wherever it was moved to), never by re-walking a path, and only `<name>` is looked up, with O_NOFOLLOW.
 * A symlink, a FIFO, a device, a socket or a hard-linked file (nlink > 1: its other name may be outside)
 * is refused before it is opened; what is opened is checked again on the descriptor (same inode, regular
 * file), so a swap between the check and the open is caught. Writes go to a fresh file created with
 * O_EXCL|O_NOFOLLOW, are chowned/chmodded through its descriptor, and are renamed over the old name: rename
 * replaces a name (never writes through a link) and a hard link's other names keep their old content.
 *
 * Paths are relative, split on "/", and never contain ".." (nothing can climb out, e.g. to /proc).
 * Directories inside a bind mount cannot be moved out of it (rename across mounts fails), and a container
 * without CAP_SYS_ADMIN cannot mount anything, so a directory reached this way is always inside the tree.
 */

export class Refused extends Error {}

export interface Owner {
  uid: number;
  gid: number;
}

/** "1000:1000" (AgentSpec.user) as numbers. */
export function parseOwner(user: string | undefined, offset = hostIdOffset()): Owner | undefined {
  if (!user) return undefined;
  const [uid, gid] = user.split(":").map(Number);
  if (!Number.isInteger(uid) || uid! < 0) throw new Refused(`refused: bad user ${user}`);
  return { uid: uid! + offset, gid: (Number.isInteger(gid) ? gid! : uid!) + offset };
}

/**
 * With dockerd's user-namespace remapping, uid N in a container is uid offset+N on the host (the
 * `dockremap` range of /etc/subuid, written to the node's env by scripts/server-setup.sh), so files the
 * node agent hands to the agent are owned by that host uid.
 */
export function hostIdOffset(env: NodeJS.ProcessEnv = process.env): number {
  const offset = Number(env.USERNS_UID_OFFSET ?? 0);
  if (!Number.isInteger(offset) || offset < 0) throw new Error(`USERNS_UID_OFFSET must be a non-negative integer, not ${env.USERNS_UID_OFFSET}`);
  return offset;
}

const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW | C.O_NONBLOCK;
const READ_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY;
const CREATE_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW | C.O_NOCTTY;

/** The components of a relative path; absolute paths, NUL and ".." are refused. */
export function splitPath(path: string): string[] {
  if (path.includes("\0") || path.startsWith("/")) throw new Refused(`refused path: ${path}`);
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new Refused(`refused path: ${path}`);
  return parts;
}

const code = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** What an entry is, in the words of an error message. */
function kind(st: Stats) {
  if (st.isSymbolicLink()) return "a link";
  if (st.isDirectory()) return "a folder";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.nlink > 1) return "a hard link";
  return "a file";
}

/** One directory of the tree, held open; every operation names an entry of it relative to the descriptor. */
export class Dir {
  private constructor(
    private readonly handle: FileHandle,
    /** The path from the tree's root, for messages. */
    readonly rel: string,
  ) {}

  /**
   * Opens the root of a tree at a path the node chose itself (e.g. `<stateRoot>/<userId>`), creating it
   * when asked. Its last component is still opened without following a link.
   */
  static async openRoot(path: string, opts: { create?: boolean } = {}): Promise<Dir> {
    if (opts.create) await mkdir(path, { recursive: true });
    try {
      return new Dir(await open(path, DIR_FLAGS), "");
    } catch (e) {
      if (code(e) === "ENOENT") throw new Refused(`no such folder: ${path}`);
      if (code(e) === "ELOOP" || code(e) === "ENOTDIR") throw new Refused(`refused: ${path} is not a folder`);
      throw e;
    }
  }

  private name(name: string) {
    if (!name || name === "." || name === ".." || name.includes("/") || name.includes("\0")) throw new Refused(`refused path: ${this.join(name)}`);
    return `/proc/self/fd/${this.handle.fd}/${name}`;
  }

  join = (name: string) => (this.rel ? `${this.rel}/${name}` : name);

  close = () => this.handle.close().catch(() => {});

  stat = () => this.handle.stat();

  async chown(owner: Owner) {
    await this.handle.chown(owner.uid, owner.gid);
  }

  /** The entry itself (never what a link points at), or undefined. */
  async entry(name: string): Promise<Stats | undefined> {
    return lstat(this.name(name)).catch((e) => {
      if (code(e) === "ENOENT") return undefined;
      throw e;
    });
  }

  async names(): Promise<string[]> {
    return readdir(`/proc/self/fd/${this.handle.fd}`);
  }

  /** Owns the entry itself (a link, not its target). */
  async lchown(name: string, owner: Owner): Promise<void> {
    await lchown(this.name(name), owner.uid, owner.gid);
  }

  async readlink(name: string): Promise<string> {
    return readlink(this.name(name));
  }

  /**
   * A sub-folder, optionally created (and then owned by `owner`); a link, file or FIFO in its place is refused.
   * `rel` names it in messages (default: its path from the root).
   */
  async sub(name: string, opts: { create?: boolean; owner?: Owner; rel?: string } = {}): Promise<Dir> {
    const path = this.name(name);
    let created = false;
    if (opts.create) {
      created = await mkdir(path, { mode: 0o755 }).then(
        () => true,
        (e) => {
          if (code(e) === "EEXIST") return false;
          throw e;
        },
      );
    }
    let fh: FileHandle;
    try {
      fh = await open(path, DIR_FLAGS);
    } catch (e) {
      if (code(e) === "ENOENT") throw new Refused(`no such file: ${this.join(name)}`);
      if (code(e) === "ELOOP" || code(e) === "ENOTDIR") {
        const st = await this.entry(name);
        throw new Refused(`refused path: ${this.join(name)} is ${st ? kind(st) : "gone"}`);
      }
      throw e;
    }
    const dir = new Dir(fh, opts.rel ?? this.join(name));
    if (created && opts.owner) await dir.chown(opts.owner).catch(async (e) => (await dir.close(), Promise.reject(e)));
    return dir;
  }

  /** Walks down `parts` (each one a real folder), optionally creating the missing ones. Closes nothing of `this`. */
  async walk(parts: string[], opts: { create?: boolean; owner?: Owner } = {}): Promise<Dir> {
    let dir: Dir = this;
    for (const part of parts) {
      const next: Dir = await dir.sub(part, { create: opts.create, owner: opts.owner }).finally(() => dir !== this && dir.close());
      dir = next;
    }
    // The caller closes what it gets, so an empty walk hands back a second descriptor of `this` (reopened
    // through its own fd: following that magic link is following our descriptor, not a name).
    return dir === this ? new Dir(await open(`/proc/self/fd/${this.handle.fd}`, C.O_RDONLY | C.O_DIRECTORY), this.rel) : dir;
  }

  /**
   * Opens a regular, singly-linked file for reading (O_NONBLOCK: a FIFO swapped in cannot block us), checked
   * on the descriptor. The caller closes it. `hardLinked`: the caller itself made sure every name of the file
   * is inside the tree (the archiver counts them).
   */
  async openFile(name: string, maxBytes: number, opts: { hardLinked?: boolean } = {}): Promise<{ fh: FileHandle; size: number; st: Stats }> {
    const st = await this.entry(name);
    const linked = (s: Stats) => s.nlink > 1 && !opts.hardLinked;
    if (!st) throw new Refused(`no such file: ${this.join(name)}`);
    if (st.isDirectory()) throw new Refused(`not a file: ${this.join(name)}`);
    if (!st.isFile() || linked(st)) throw new Refused(`refused path: ${this.join(name)} is ${kind(st)}`);
    const fh = await open(this.name(name), READ_FLAGS).catch((e) => {
      throw code(e) === "ELOOP" ? new Refused(`refused path: ${this.join(name)} is a link`) : e;
    });
    const now = await fh.stat();
    if (!now.isFile() || linked(now) || now.ino !== st.ino || now.dev !== st.dev) {
      await fh.close();
      throw new Refused(`refused path: ${this.join(name)} changed while it was opened`);
    }
    if (now.size > maxBytes) {
      await fh.close();
      throw new Refused(`too large: ${this.join(name)} is over ${Math.floor(maxBytes / 1024)} KiB`);
    }
    return { fh, size: now.size, st: now };
  }

  async readFile(name: string, maxBytes: number): Promise<Buffer> {
    const { fh } = await this.openFile(name, maxBytes);
    try {
      const buf = Buffer.alloc(maxBytes + 1);
      let n = 0;
      for (let r; n < buf.length && (r = await fh.read(buf, n, buf.length - n, null)).bytesRead > 0;) n += r.bytesRead;
      if (n > maxBytes) throw new Refused(`too large: ${this.join(name)} is over ${Math.floor(maxBytes / 1024)} KiB`);
      return buf.subarray(0, n);
    } finally {
      await fh.close();
    }
  }

  /** Copies a regular file of the tree to a path of the node's own (e.g. a private temp dir). */
  async copyOut(name: string, dest: string, maxBytes: number): Promise<void> {
    const { fh } = await this.openFile(name, maxBytes);
    try {
      await pipeline(fh.createReadStream({ autoClose: false, end: maxBytes - 1 }), createWriteStream(dest, { flags: "wx", mode: 0o600 }));
    } finally {
      await fh.close();
    }
  }

  /**
   * Puts `data` at `name`: a fresh file, owned by `owner`, renamed over the old one. An existing entry that is
   * not a plain file (link, FIFO, device, folder, hard link) is refused and left as it is. The mode is `mode`,
   * else the old file's permission bits, else 0644.
   */
  async writeFile(name: string, data: Buffer | string, opts: { mode?: number; owner?: Owner } = {}): Promise<void> {
    const target = this.name(name);
    const old = await this.entry(name);
    if (old && (!old.isFile() || old.nlink > 1)) throw new Refused(`refused path: ${this.join(name)} is ${kind(old)}`);
    const mode = opts.mode ?? (old ? old.mode & 0o777 : 0o644);
    const tmpName = `.oc-write-${randomBytes(8).toString("hex")}`;
    const tmp = this.name(tmpName);
    const fh = await open(tmp, CREATE_FLAGS, 0o600);
    try {
      await fh.writeFile(data);
      if (opts.owner) await fh.chown(opts.owner.uid, opts.owner.gid);
      await fh.chmod(mode);
    } catch (e) {
      await fh.close();
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    await rename(tmp, target).catch(async (e) => {
      await unlink(tmp).catch(() => {});
      throw code(e) === "EISDIR" || code(e) === "ENOTDIR" ? new Refused(`refused path: ${this.join(name)} is a folder`) : e;
    });
  }

  /** Removes the entry itself: a link is unlinked (its target untouched), a folder emptied through descriptors. */
  async remove(name: string): Promise<void> {
    const st = await this.entry(name);
    if (!st) throw new Refused(`no such file: ${this.join(name)}`);
    if (st.isDirectory()) {
      const sub = await this.sub(name);
      try {
        await sub.clear();
      } finally {
        await sub.close();
      }
      await rmdir(this.name(name));
    } else await unlink(this.name(name));
  }

  /** Removes everything inside this folder. */
  async clear(): Promise<void> {
    for (const name of await this.names())
      await this.remove(name).catch((e) => (e instanceof Refused && e.message.startsWith("no such") ? undefined : Promise.reject(e)));
  }
}

/** Deletes a tree (a state dir) without following any link inside it; a link at `path` itself is unlinked. */
export async function removeTree(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isDirectory()) return unlink(path);
  const dir = await Dir.openRoot(path);
  try {
    await dir.clear();
  } finally {
    await dir.close();
  }
  await rmdir(path);
}
