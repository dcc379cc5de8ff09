import { chownSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_FILE_BYTES, Workspace } from "../src/workspace";

/** The File Manager's view of an agent workspace on a real filesystem: everything stays inside it. */
describe("agent workspace files", () => {
  const setup = () => {
    const root = mkdtempSync(join(tmpdir(), "oc-ws-"));
    const state = join(root, "state");
    const ws = join(state, "workspace");
    mkdirSync(join(ws, "notes"), { recursive: true });
    writeFileSync(join(ws, "MEMORY.md"), "# MEMORY\n");
    writeFileSync(join(root, "secret.txt"), "the gateway token");
    return { root, ws: new Workspace(state), dir: ws, state };
  };

  it("lists, reads, writes and deletes inside the workspace; written files belong to the state dir's owner", async () => {
    const { ws, dir, state } = setup();
    chownSync(state, 1000, 1000); // the container's user owns its state dir
    expect(await ws.run("list", "")).toMatchObject({
      entries: [
        { name: "notes", type: "dir" },
        { name: "MEMORY.md", type: "file", bytes: 9 },
      ],
    });
    await ws.run("write", "notes/todo.md", Buffer.from("- buy tea\n").toString("base64"));
    expect(statSync(join(dir, "notes/todo.md")).uid).toBe(1000);
    await ws.run("write", "new/deep/file.md", Buffer.from("x").toString("base64"));
    expect([statSync(join(dir, "new")).uid, statSync(join(dir, "new/deep")).uid, statSync(join(dir, "new/deep/file.md")).uid]).toEqual([1000, 1000, 1000]);
    const read = (await ws.run("read", "notes/todo.md")) as { content: string };
    expect(Buffer.from(read.content, "base64").toString()).toBe("- buy tea\n");
    await ws.run("write", "notes/todo.md", Buffer.from("- buy more tea\n").toString("base64")); // replace
    expect(Buffer.from(((await ws.run("read", "notes/todo.md")) as { content: string }).content, "base64").toString()).toBe("- buy more tea\n");
    await ws.run("delete", "notes/todo.md");
    await expect(ws.run("read", "notes/todo.md")).rejects.toThrow(/no such file/);
    await ws.run("delete", "new");
    expect(((await ws.run("list", "")) as { entries: { name: string }[] }).entries.map((e) => e.name)).toEqual(["notes", "MEMORY.md"]);
  });

  it("creates the workspace when the state dir has none yet", async () => {
    const root = mkdtempSync(join(tmpdir(), "oc-ws-"));
    await new Workspace(join(root, "fresh")).run("write", "MEMORY.md", Buffer.from("hi").toString("base64"));
    expect(statSync(join(root, "fresh", "workspace", "MEMORY.md")).size).toBe(2);
  });

  it("refuses traversal, absolute paths, symlinks out, oversized files and deleting the root", async () => {
    const { ws, dir, root } = setup();
    await expect(ws.run("read", "../secret.txt")).rejects.toThrow(/refused path/);
    await expect(ws.run("read", "/etc/passwd")).rejects.toThrow(/refused path/);
    symlinkSync(join(root, "secret.txt"), join(dir, "link.txt"));
    await expect(ws.run("read", "link.txt")).rejects.toThrow(/refused path: link.txt is a link/);
    symlinkSync(root, join(dir, "up"));
    await expect(ws.run("write", "up/planted.txt", "eA==")).rejects.toThrow(/refused path: up is a link/);
    expect(((await ws.run("list", "")) as { entries: { name: string }[] }).entries.map((e) => e.name)).not.toContain("link.txt");
    await expect(ws.run("write", "big.bin", Buffer.alloc(MAX_FILE_BYTES + 1).toString("base64"))).rejects.toThrow(/over 1024 KiB/);
    writeFileSync(join(dir, "big.bin"), Buffer.alloc(MAX_FILE_BYTES + 1));
    await expect(ws.run("read", "big.bin")).rejects.toThrow(/over 1024 KiB; download it/);
    await expect(ws.run("delete", "")).rejects.toThrow(/cannot be deleted/);
  });
});
