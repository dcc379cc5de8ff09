import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, type Stats } from "node:fs";
import { chmod, chown, lstat, mkdtemp, rename } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import * as tar from "tar";
import { Dir, removeTree, type Owner } from "./safe-fs";

/**
 * A state dir as a gzip tarball and back, with no trust in what the tenant put in it. This module only
 * turns a directory into a local file and a local file into a directory; where archives are stored and how
 * they travel is state-store.ts's business.
 *
 * Packing walks the tree through safe-fs descriptors: links are stored as links (never followed) and only
 * when they resolve inside the tree; FIFOs, devices and sockets are skipped; a multiply-linked file goes in
 * only when all its names are in the tree (else its other name is outside, and its content is not ours).
 * Restoring first reads the whole archive and refuses it, with the reason, if any entry is absolute, has
 * "..", goes through a link, is a device/FIFO, a hard link to anything but an earlier file of the archive, a
 * link resolving outside, or is over the size limits. Only then is it extracted, into a fresh directory next
 * to the state dir, which replaces the old one in one rename: a refused archive leaves the agent untouched.
 */

/**
 * Top-level folders that are regenerable and never archived. `plugin-skills` holds only links OpenClaw
 * generates into its own install (absolute paths inside the image) and publishes again at every start.
 */
export const EXCLUDED = ["cache", "tmp", "logs", "plugin-skills"];
/**
 * The channel plugins the image installs into every agent's state (node-agent/image/build.sh): ~50 MB that
 * the image's oc-start puts back when missing, so they are never archived.
 */
export const SEEDED = /^\.\/npm\/projects\/openclaw-(discord|slack|whatsapp)-[0-9a-f]+(\/|$)/;

const excluded = (rel: string) => SEEDED.test(`./${rel}`) || EXCLUDED.some((x) => rel === x || rel.startsWith(`${x}/`));

export interface ArchiveLimits {
  /** Largest single file (default 2 GiB). */
  maxEntryBytes: number;
  /** Largest total of all files once unpacked (default 10 GiB): a gzip bomb stops here. */
  maxTotalBytes: number;
  /** Most entries (default 500,000). */
  maxEntries: number;
  /** Deepest path (default 128 components). */
  maxDepth: number;
}

export const DEFAULT_LIMITS: ArchiveLimits = { maxEntryBytes: 2 * 1024 ** 3, maxTotalBytes: 10 * 1024 ** 3, maxEntries: 500_000, maxDepth: 128 };

export class ArchiveRefused extends Error {}

type Kind = "dir" | "file" | { link: string };

/**
 * Where a symlink at `at` ends up, resolved against the tree's own entries (links inside followed, a name
 * the tree lacks taken literally): outside when it is absolute, climbs above the root at any step, or loops.
 */
export function linkStaysInside(tree: Map<string, Kind>, at: string, target: string): boolean {
  let cur = at.split("/").slice(0, -1);
  const pending = target.split("/").reverse();
  if (target.startsWith("/")) return false;
  for (let hops = 0; pending.length > 0;) {
    const c = pending.pop()!;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (cur.length === 0) return false;
      cur.pop();
      continue;
    }
    const k = tree.get([...cur, c].join("/"));
    if (k && typeof k === "object") {
      if (++hops > 40 || k.link.startsWith("/")) return false;
      pending.push(...k.link.split("/").reverse());
      continue;
    }
    cur = [...cur, c];
  }
  return true;
}

interface Found {
  rel: string;
  st: Stats;
  link?: string;
}

/** Every entry under `dir` that may be archived, with the reason for each one that may not. */
async function collect(root: Dir, limits: ArchiveLimits, log: (m: string) => void): Promise<Found[]> {
  const found: Found[] = [];
  const visit = async (dir: Dir, depth: number) => {
    for (const name of (await dir.names()).sort()) {
      const rel = dir.join(name);
      if (excluded(rel)) continue;
      const st = await dir.entry(name);
      if (!st) continue;
      if (st.isDirectory()) {
        if (depth >= limits.maxDepth) {
          log(`archive: skipped ${rel} (deeper than ${limits.maxDepth} folders)`);
          continue;
        }
        found.push({ rel, st });
        const sub = await dir.sub(name);
        try {
          await visit(sub, depth + 1);
        } finally {
          await sub.close();
        }
      } else if (st.isFile()) {
        // What restore would refuse is never archived: the archive must always be restorable.
        if (st.size > limits.maxEntryBytes) log(`archive: skipped ${rel} (${st.size} bytes, over the ${limits.maxEntryBytes}-byte limit)`);
        else found.push({ rel, st });
      } else if (st.isSymbolicLink()) found.push({ rel, st, link: await dir.readlink(name) });
      else log(`archive: skipped ${rel} (not a file, folder or link)`);
    }
  };
  await visit(root, 1);
  // Links that lead out would be refused by restore (and mean nothing on another node): leave them out,
  // until every link left resolves inside the tree that is archived.
  for (let changed = true; changed;) {
    const tree = new Map<string, Kind>(found.map((f) => [f.rel, f.link !== undefined ? { link: f.link } : f.st.isDirectory() ? "dir" : "file"]));
    changed = false;
    for (let i = found.length - 1; i >= 0; i--) {
      const f = found[i]!;
      if (f.link !== undefined && !linkStaysInside(tree, f.rel, f.link)) {
        log(`archive: skipped ${f.rel} (a link to ${f.link}, outside the state dir)`);
        found.splice(i, 1);
        changed = true;
      }
    }
  }
  // A file with more names than the tree holds shares its inode with something outside: not ours to copy.
  const names = new Map<string, number>();
  for (const f of found) if (f.st.isFile() && f.st.nlink > 1) names.set(`${f.st.dev}:${f.st.ino}`, (names.get(`${f.st.dev}:${f.st.ino}`) ?? 0) + 1);
  const kept = found.filter((f) => {
    if (!f.st.isFile() || f.st.nlink === 1 || names.get(`${f.st.dev}:${f.st.ino}`) === f.st.nlink) return true;
    log(`archive: skipped ${f.rel} (a hard link to a file outside the state dir)`);
    return false;
  });
  const total = kept.reduce((sum, f) => sum + (f.st.isFile() ? f.st.size : 0), 0);
  if (total > limits.maxTotalBytes || kept.length > limits.maxEntries)
    throw new Error(`the state dir is too large to archive (${kept.length} entries, ${total} bytes; limits ${limits.maxEntries} and ${limits.maxTotalBytes})`);
  return kept;
}

function header(data: tar.HeaderData): Buffer[] {
  const h = new tar.Header(data);
  const block = Buffer.alloc(512);
  const out: Buffer[] = [];
  if (h.encode(block, 0))
    out.push(new tar.Pax({ path: data.path, linkpath: data.linkpath, mtime: data.mtime, size: data.size, uid: data.uid, gid: data.gid }).encode());
  out.push(block);
  return out;
}

/** Writes the tarball of `dir` (gzip) to `outFile`, a path of the node's own. */
export async function packState(dir: string, outFile: string, opts: { log?: (m: string) => void; limits?: ArchiveLimits } = {}): Promise<void> {
  const log = opts.log ?? ((m) => console.warn(`[node-agent] ${m}`));
  const root = await Dir.openRoot(dir);
  try {
    const found = await collect(root, opts.limits ?? DEFAULT_LIMITS, log);
    const firstName = new Map<string, string>();
    async function* entries(): AsyncGenerator<Buffer> {
      for (const f of found) {
        const base = { mode: f.st.mode & 0o777, uid: f.st.uid, gid: f.st.gid, mtime: f.st.mtime };
        if (f.st.isDirectory()) {
          yield* header({ ...base, path: `${f.rel}/`, type: "Directory", size: 0 });
          continue;
        }
        if (f.link !== undefined) {
          yield* header({ ...base, path: f.rel, type: "SymbolicLink", size: 0, linkpath: f.link });
          continue;
        }
        const inode = `${f.st.dev}:${f.st.ino}`;
        const first = f.st.nlink > 1 ? firstName.get(inode) : undefined;
        if (first) {
          yield* header({ ...base, path: f.rel, type: "Link", size: 0, linkpath: first });
          continue;
        }
        if ((yield* fileEntry(root, f, base, log)) && f.st.nlink > 1) firstName.set(inode, f.rel);
      }
      yield Buffer.alloc(1024);
    }
    await pipeline(Readable.from(entries()), createGzip(), createWriteStream(outFile, { mode: 0o600 }));
  } finally {
    await root.close();
  }
}

/** One regular file's header and content, read through a descriptor opened without following links. */
async function* fileEntry(root: Dir, f: Found, base: tar.HeaderData, log: (m: string) => void): AsyncGenerator<Buffer, boolean> {
  const parts = f.rel.split("/");
  const dir = await root.walk(parts.slice(0, -1)).catch(() => undefined);
  if (!dir) {
    log(`archive: skipped ${f.rel} (its folder changed while the state was archived)`);
    return false;
  }
  try {
    const opened = await dir.openFile(parts.at(-1)!, Number.MAX_SAFE_INTEGER, { hardLinked: true }).catch(() => undefined);
    if (!opened || opened.st.ino !== f.st.ino || opened.st.dev !== f.st.dev) {
      await opened?.fh.close();
      log(`archive: skipped ${f.rel} (it changed while the state was archived)`);
      return false;
    }
    const { fh, st: now } = opened;
    try {
      const size = now.size;
      yield* header({ ...base, path: f.rel, type: "File", size });
      let done = 0;
      const buf = Buffer.alloc(256 * 1024);
      while (done < size) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - done), done);
        if (bytesRead === 0) break;
        yield Buffer.from(buf.subarray(0, bytesRead));
        done += bytesRead;
      }
      // A file that shrank under us still needs the size its header promised.
      if (done < size) yield Buffer.alloc(size - done);
      yield Buffer.alloc((512 - (size % 512)) % 512);
      return true;
    } finally {
      await fh.close();
    }
  } finally {
    await dir.close();
  }
}

const ALLOWED = new Set(["File", "OldFile", "ContiguousFile", "Directory", "SymbolicLink", "Link"]);

/** The entry's path inside the tree ("" for the root), or a reason to refuse it. */
function entryPath(raw: string): string | { refused: string } {
  if (raw.includes("\0")) return { refused: "a NUL in its name" };
  if (raw.startsWith("/") || /^[A-Za-z]:/.test(raw)) return { refused: "an absolute path" };
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) return { refused: 'a ".." in its path' };
  return parts.join("/");
}

/**
 * Reads the whole archive and throws ArchiveRefused with the first reason it must not be restored.
 * Returns the number of entries.
 */
export async function checkArchive(file: string, limits: ArchiveLimits = DEFAULT_LIMITS): Promise<number> {
  const tree = new Map<string, Kind>();
  const links: [string, string][] = [];
  let total = 0;
  let count = 0;
  let refusal: string | undefined;
  const parser = new tar.Parser({ strict: true });
  const refuse = (why: string) => {
    refusal ??= why;
    parser.abort(new ArchiveRefused(why));
  };
  parser.on("entry", (e: tar.ReadEntry) => {
    e.resume();
    if (refusal) return;
    const p = entryPath(e.path);
    const name = JSON.stringify(e.path.slice(0, 200));
    if (typeof p !== "string") return refuse(`entry ${name} has ${p.refused}`);
    if (!ALLOWED.has(e.type)) return refuse(`entry ${name} is a ${e.type} (only files, folders and links are restored)`);
    if (++count > limits.maxEntries) return refuse(`more than ${limits.maxEntries} entries`);
    if (p.split("/").length > limits.maxDepth) return refuse(`entry ${name} is deeper than ${limits.maxDepth} folders`);
    if ((e.size ?? 0) > limits.maxEntryBytes) return refuse(`entry ${name} is ${e.size} bytes, over the ${limits.maxEntryBytes}-byte limit`);
    if ((total += e.size ?? 0) > limits.maxTotalBytes) return refuse(`the archive unpacks to over ${limits.maxTotalBytes} bytes`);
    if (p === "") return e.type === "Directory" ? undefined : refuse(`entry ${name} replaces the state dir itself`);
    if (tree.has(p)) return refuse(`entry ${name} appears twice`);
    const parts = p.split("/");
    for (let i = 1; i < parts.length; i++) {
      const k = tree.get(parts.slice(0, i).join("/"));
      if (k !== undefined && k !== "dir") return refuse(`entry ${name} goes through ${typeof k === "object" ? "a link" : "a file"}`);
    }
    if (e.type === "Directory") tree.set(p, "dir");
    else if (e.type === "SymbolicLink") {
      tree.set(p, { link: e.linkpath ?? "" });
      links.push([p, e.linkpath ?? ""]);
    } else if (e.type === "Link") {
      const to = entryPath(e.linkpath ?? "");
      if (typeof to !== "string" || tree.get(to) !== "file")
        return refuse(`entry ${name} is a hard link to ${JSON.stringify(e.linkpath)}, not to an earlier file of the archive`);
      const toParts = to.split("/");
      for (let i = 1; i < toParts.length; i++)
        if (tree.get(toParts.slice(0, i).join("/")) !== "dir") return refuse(`entry ${name} is a hard link through a link`);
      tree.set(p, "file");
    } else tree.set(p, "file");
  });
  const done = pipeline(createReadStream(file), parser).catch((e: Error) => {
    throw e instanceof ArchiveRefused ? e : new ArchiveRefused(refusal ?? `it is not a readable tarball (${e.message})`);
  });
  await done;
  if (refusal) throw new ArchiveRefused(refusal);
  for (const [at, target] of links)
    if (!linkStaysInside(tree, at, target))
      throw new ArchiveRefused(`entry ${JSON.stringify(at)} is a link to ${JSON.stringify(target)}, outside the state dir`);
  return count;
}

async function ownLinks(path: string, owner: Owner) {
  const visit = async (dir: Dir) => {
    for (const name of await dir.names()) {
      const st = await dir.entry(name);
      if (st?.isSymbolicLink()) await dir.lchown(name, owner);
      else if (st?.isDirectory()) {
        const sub = await dir.sub(name);
        await visit(sub).finally(sub.close);
      }
    }
  };
  const root = await Dir.openRoot(path);
  await visit(root).finally(root.close);
}

/**
 * Replaces the state dir `dir` with the archive's contents, owned by `owner` (else by the node agent's user;
 * never by the uids the archive claims), without setuid/setgid bits. Throws ArchiveRefused, with `dir`
 * untouched, when the archive fails checkArchive.
 */
export async function unpackState(file: string, dir: string, opts: { owner?: Owner; limits?: ArchiveLimits } = {}): Promise<void> {
  await checkArchive(file, opts.limits);
  const owner = opts.owner ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const fresh = await mkdtemp(join(dirname(dir), `.restore-${basename(dir)}-`));
  try {
    await tar.x({
      file,
      cwd: fresh,
      strict: true,
      preservePaths: false,
      uid: owner.uid,
      gid: owner.gid,
      maxDepth: (opts.limits ?? DEFAULT_LIMITS).maxDepth + 1,
      filter: (_path, e) => {
        // Permission bits only; a folder stays usable by its owner.
        if ("type" in e && typeof e.mode === "number") e.mode = e.type === "Directory" ? (e.mode & 0o777) | 0o700 : e.mode & 0o777;
        return true;
      },
    });
    await chown(fresh, owner.uid, owner.gid);
    await chmod(fresh, 0o755);
    await ownLinks(fresh, owner); // node-tar chowns files and folders, not the links it makes
  } catch (e) {
    await removeTree(fresh);
    throw e;
  }
  const old = (await lstat(dir).catch(() => undefined)) ? join(dirname(dir), `.old-${basename(dir)}-${randomBytes(6).toString("hex")}`) : undefined;
  if (old) await rename(dir, old);
  await rename(fresh, dir);
  if (old) await removeTree(old);
}
