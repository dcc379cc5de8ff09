import {
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ArchiveRefused, checkArchive, linkStaysInside, packState, unpackState } from "../src/state-archive";
import { entriesOf, fingerprint, tarball, type Crafted } from "./tarballs";

/** Packing and restoring a state dir on the real filesystem (no Docker needed): what goes in, what is refused. */
describe("state archives", () => {
  const secret = `TOP-SECRET-${Math.random().toString(36).slice(2)}`;
  const setup = () => {
    const root = mkdtempSync(join(tmpdir(), "oc-archive-"));
    const outside = join(root, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "shadow"), secret);
    const state = join(root, "state");
    mkdirSync(join(state, "workspace", "sub"), { recursive: true });
    writeFileSync(join(state, "openclaw.json"), "{}");
    writeFileSync(join(state, "workspace", "notes.md"), "notes");
    return { root, outside, state };
  };

  it("links are kept only when they resolve inside; FIFOs, outward links and hard links to outside files stay out", async () => {
    const { root, outside, state } = setup();
    const ws = join(state, "workspace");
    symlinkSync("notes.md", join(ws, "alias.md")); // inside: kept
    symlinkSync("../workspace/notes.md", join(ws, "sub", "up.md")); // climbs, but stays inside: kept
    symlinkSync(join(outside, "shadow"), join(ws, "abs.md")); // absolute: out
    symlinkSync("../../outside/shadow", join(ws, "rel.md")); // climbs out of the root: out
    symlinkSync("..", join(ws, "sub", "l2")); // inside (= workspace)
    symlinkSync("sub/l2/../..", join(ws, "chain")); // only a resolver that follows l2 sees this leave the root
    execFileSync("mkfifo", [join(state, "fifo")]);
    linkSync(join(outside, "shadow"), join(ws, "hard-out.md")); // its other name is outside the tree
    writeFileSync(join(ws, "a.md"), "shared");
    linkSync(join(ws, "a.md"), join(ws, "b.md")); // both names inside: kept as a hard link
    const logs: string[] = [];
    const file = join(root, "state.tar.gz");
    await packState(state, file, { log: (m) => logs.push(m) });
    const archive = readFileSync(file);
    const entries = await entriesOf(archive);
    expect(entries.get("workspace/alias.md")).toBe("SymbolicLink:notes.md");
    expect(entries.get("workspace/sub/up.md")).toBe("SymbolicLink:../workspace/notes.md");
    expect(entries.get("workspace/sub/l2")).toBe("SymbolicLink:..");
    expect(entries.get("workspace/b.md")).toBe("Link:workspace/a.md");
    for (const out of ["workspace/abs.md", "workspace/rel.md", "workspace/chain", "fifo", "workspace/hard-out.md"]) expect(entries.has(out), out).toBe(false);
    expect(logs.join("\n")).toMatch(/skipped workspace\/chain \(a link to sub\/l2\/\.\.\/\.\., outside/);
    expect(logs.join("\n")).toMatch(/skipped fifo \(not a file, folder or link\)/);
    expect(logs.join("\n")).toMatch(/skipped workspace\/hard-out.md \(a hard link to a file outside/);
    expect((await import("node:zlib")).gunzipSync(archive).includes(secret)).toBe(false); // the secret never went in

    // What we pack always restores (the same checks), owned by the agent's user whatever the headers say.
    const target = join(root, "restored");
    await unpackState(file, target, { owner: { uid: 1000, gid: 1000 } });
    expect(readFileSync(join(target, "workspace", "alias.md"), "utf8")).toBe("notes");
    expect(statSync(join(target, "workspace", "a.md")).ino).toBe(statSync(join(target, "workspace", "b.md")).ino);
    expect(lstatSync(join(target, "workspace", "notes.md")).uid).toBe(1000);
    expect(lstatSync(join(target, "workspace", "alias.md")).uid).toBe(1000);
    expect(statSync(target).uid).toBe(1000);
  });

  it("the link resolver follows links inside the tree and refuses loops, absolute targets and climbing out", () => {
    const tree = new Map<string, "dir" | "file" | { link: string }>([
      ["a", "dir"],
      ["a/l2", { link: ".." }],
      ["loop", { link: "loop2" }],
      ["loop2", { link: "loop" }],
    ]);
    expect(linkStaysInside(tree, "x", "a/l2/a")).toBe(true);
    expect(linkStaysInside(tree, "x", "a/l2/..")).toBe(false);
    expect(linkStaysInside(tree, "a/y", "../a")).toBe(true);
    expect(linkStaysInside(tree, "a/y", "../..")).toBe(false);
    expect(linkStaysInside(tree, "x", "/etc")).toBe(false);
    expect(linkStaysInside(tree, "x", "loop")).toBe(false);
    expect(linkStaysInside(tree, "x", "missing/../a")).toBe(true);
  });

  const refusals: [string, Crafted[], RegExp][] = [
    ["a path with ..", [{ path: "../escaped.txt", body: "x" }], /has a "\.\." in its path/],
    ["an absolute path", [{ path: "/tmp/planted.txt", body: "x" }], /has an absolute path/],
    ["a symlink to /", [{ path: "root", type: "SymbolicLink", linkpath: "/" }], /a link to "\/", outside the state dir/],
    [
      "a file through a link",
      [
        { path: "w", type: "SymbolicLink", linkpath: "/tmp" },
        { path: "w/planted", body: "x" },
      ],
      /goes through a link/,
    ],
    [
      "a file through an inside link",
      [
        { path: "d/", type: "Directory" },
        { path: "w", type: "SymbolicLink", linkpath: "d" },
        { path: "w/planted", body: "x" },
      ],
      /goes through a link/,
    ],
    [
      "a relative link climbing out",
      [
        { path: "a/", type: "Directory" },
        { path: "a/up", type: "SymbolicLink", linkpath: "../.." },
      ],
      /outside the state dir/,
    ],
    ["a hard link out", [{ path: "h", type: "Link", linkpath: "/etc/shadow" }], /hard link to "\/etc\/shadow"/],
    ["a hard link climbing out", [{ path: "h", type: "Link", linkpath: "../../etc/passwd" }], /hard link/],
    [
      "a hard link to a later file",
      [
        { path: "h", type: "Link", linkpath: "f" },
        { path: "f", body: "x" },
      ],
      /not to an earlier file/,
    ],
    ["a character device", [{ path: "null", type: "CharacterDevice", devmaj: 1, devmin: 3, size: 0 }], /is a CharacterDevice/],
    ["a FIFO", [{ path: "pipe", type: "FIFO", size: 0 }], /is a FIFO/],
    ["an oversized entry", [{ path: "big", size: 3 * 1024 ** 3 }], /3221225472 bytes, over the/],
    [
      "a duplicate entry",
      [
        { path: "f", body: "x" },
        { path: "f", type: "SymbolicLink", linkpath: "/" },
      ],
      /appears twice/,
    ],
  ];

  for (const [what, entries, reason] of refusals)
    it(`refuses ${what}, leaving the state dir as it was`, async () => {
      const { root, state } = setup();
      const file = join(root, "crafted.tar.gz");
      writeFileSync(file, tarball(entries));
      chownSync(state, 1000, 1000);
      const before = fingerprint(root);
      const error = await unpackState(file, state, { owner: { uid: 1000, gid: 1000 } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ArchiveRefused);
      expect((error as Error).message).toMatch(reason);
      expect(fingerprint(root)).toEqual(before); // nothing extracted anywhere, no temp dir left
    });

  it("refuses what is not a tarball, and a gzip bomb at the total limit", async () => {
    const { root } = setup();
    writeFileSync(join(root, "junk.tar.gz"), "this is not a tarball at all, just text".repeat(20));
    await expect(checkArchive(join(root, "junk.tar.gz"))).rejects.toThrow(/not a readable tarball|TAR_BAD_ARCHIVE|invalid/i);
    writeFileSync(
      join(root, "bomb.tar.gz"),
      tarball([
        { path: "a", body: "x".repeat(600) },
        { path: "b", body: "x".repeat(600) },
      ]),
    );
    await expect(checkArchive(join(root, "bomb.tar.gz"), { maxEntryBytes: 1000, maxTotalBytes: 1000, maxEntries: 10, maxDepth: 10 })).rejects.toThrow(
      /unpacks to over 1000 bytes/,
    );
  });

  it("a clean archive replaces the state dir, with archive uids and setuid bits ignored", async () => {
    const { root, state } = setup();
    const file = join(root, "good.tar.gz");
    writeFileSync(
      file,
      tarball([
        { path: "./", type: "Directory", mode: 0o755 },
        { path: "workspace/", type: "Directory", mode: 0o000 },
        { path: "workspace/restored.md", body: "restored", mode: 0o4755, uid: 0 },
        { path: "workspace/alias.md", type: "SymbolicLink", linkpath: "restored.md" },
        { path: "workspace/hard.md", type: "Link", linkpath: "workspace/restored.md" },
      ]),
    );
    await unpackState(file, state, { owner: { uid: 1000, gid: 1000 } });
    expect(readdirSync(state)).toEqual(["workspace"]); // the old content is gone
    expect(readFileSync(join(state, "workspace", "alias.md"), "utf8")).toBe("restored");
    const st = statSync(join(state, "workspace", "restored.md"));
    expect([st.uid, st.mode & 0o7777, st.nlink]).toEqual([1000, 0o755, 2]);
    expect(statSync(join(state, "workspace")).mode & 0o700).toBe(0o700);
    expect(readlinkSync(join(state, "workspace", "alias.md"))).toBe("restored.md");
    expect(readdirSync(root).filter((n) => n.startsWith(".restore-") || n.startsWith(".old-"))).toEqual([]);
    expect(existsSync(join(root, "state"))).toBe(true);
  });
});
