import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import * as tar from "tar";

export type Crafted = tar.HeaderData & { body?: string };

/** A gzip tarball with exactly these entries, headers as given (absolute paths, "..", devices, any size). */
export function tarball(entries: Crafted[]): Buffer {
  const blocks: Buffer[] = [];
  for (const { body: text, ...e } of entries) {
    const body = Buffer.from(text ?? "");
    const h = new tar.Header({ mode: 0o644, uid: 0, gid: 0, mtime: new Date(), type: "File", size: body.length, ...e });
    const block = Buffer.alloc(512);
    if (h.encode(block, 0)) blocks.push(new tar.Pax({ path: e.path, linkpath: e.linkpath }).encode());
    blocks.push(block, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/** The entries of a tarball: path → type (and link target). */
export async function entriesOf(archive: Buffer): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const parser = new tar.Parser({ strict: true });
  parser.on("entry", (e: tar.ReadEntry) => {
    out.set(e.path.replace(/^\.\//, "").replace(/\/$/, ""), e.linkpath ? `${e.type}:${e.linkpath}` : e.type);
    e.resume();
  });
  await new Promise<void>((resolve, reject) => {
    parser.on("end", resolve);
    parser.on("error", reject);
    parser.end(archive);
  });
  return out;
}

/**
 * A fingerprint of a host tree that never follows a link: every entry's type, content hash or link target,
 * owner, permission bits, size and mtime. Two equal fingerprints mean nothing in the tree changed.
 */
export function fingerprint(root: string): string[] {
  const out: string[] = [];
  const visit = (p: string) => {
    const st = lstatSync(p);
    const what = st.isSymbolicLink()
      ? `link:${readlinkSync(p)}`
      : st.isFile()
        ? `file:${createHash("sha256").update(readFileSync(p)).digest("hex")}`
        : st.isDirectory()
          ? "dir"
          : "special";
    out.push(`${relative(root, p) || "."} ${what} ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} ${st.size} ${st.mtimeMs}`);
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) visit(join(p, n));
  };
  visit(root);
  return out;
}
