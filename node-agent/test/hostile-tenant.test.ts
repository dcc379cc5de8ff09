import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import {
  copyFileSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AgentRuntime, type AgentSpec } from "../src/agent-lifecycle";
import { DockerodeClient } from "../src/dockerode-client";
import { localRuntime } from "./local-runtime";
import { entriesOf, fingerprint, tarball, type Crafted } from "./tarballs";

/**
 * A hostile tenant on a real Docker engine. The agent's container runs as its own user (1000) and, through
 * an attacker script run in it as that user, plants links, dangling links, hard links and FIFOs at every path
 * the node agent (root on the host) touches in its state dir. Then the platform's own operations run (File
 * Manager, memory sync, persona and config pushes, sleep to S3 and restore) and the suite checks that a
 * watched host tree the links point at is unchanged (content, owner, mode, no new file), that no secret of
 * it leaks through a read or an archive, and that each refused operation works when aimed at an allowed path
 * (the positive control: the test would have caught the hole). A crafted archive is refused by restore
 * with its reason and the existing state stays as it was.
 */
const IMAGE = "openclaw-test/busybox:1";
const S = "/home/node/.openclaw"; // the state dir as the container sees it
const docker = new DockerodeClient();
const users: string[] = [];
let runtime: AgentRuntime;
let stateRoot = "";
let client: S3Client;
let close: () => Promise<void>;
/** The host tree the tenant aims at (it does not exist inside the container: every link to it dangles there). */
let W = "";
let watched: string[] = [];
const SECRET = `TOP-SECRET-${Math.random().toString(36).slice(2)}`;
const NEXT_JOB = 1_950_000_000_000;

const GATEWAY = [
  "/bin/sh",
  "-c",
  `echo boot >> ${S}/boots.log; while true; do printf 'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 14\\r\\nConnection: close\\r\\n\\r\\n{"ready":true}' | nc -l -p 18789 >/dev/null 2>&1; done`,
];

const spec = (userId: string, files?: Record<string, string>): AgentSpec => ({
  userId,
  image: IMAGE,
  host: `${userId.replace(/_/g, "-")}.agents.example.com`,
  config: { gateway: { mode: "local", port: 18789, bind: "lan" }, marker: files ? Object.keys(files).length : 0 },
  gatewayToken: "t".repeat(32),
  memoryMb: 128,
  cpus: 0.5,
  pidsLimit: 64,
  user: "1000:1000",
  cmd: GATEWAY,
  files,
});

const newUser = () => {
  const u = `usr_${Math.random().toString(36).slice(2, 10)}`;
  users.push(u);
  return u;
};

/** Runs the attacker's shell script inside the agent's container, as the agent's own user. */
async function attack(userId: string, script: string) {
  const r = await docker.exec(AgentRuntime.containerName(userId), ["sh", "-euc", `cd ${S}; ${script}`], { user: "1000:1000", timeoutMs: 20_000 });
  expect(r.exitCode, `attacker script failed: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (r: unknown) => Buffer.from((r as { content: string }).content, "base64").toString();
/** Fails fast instead of hanging when an operation blocks (a FIFO opened for reading or writing would). */
const within = <T>(p: Promise<T>, ms = 5_000) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`blocked for ${ms} ms`)), ms))]);
const expectWatchedUntouched = () => expect(fingerprint(W)).toEqual(watched);
/** What an error says, to check that no secret rides out on it. */
const failure = (p: Promise<unknown>) =>
  within(p).then(
    () => "",
    (e: Error) => e.message,
  );

beforeAll(async () => {
  if (!(await docker.hasImage(IMAGE)))
    await docker.buildImage(
      IMAGE,
      { busybox: readFileSync("/bin/busybox") },
      'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n',
    );
  ({ runtime, stateRoot, client, close } = await localRuntime(20_000));
  W = mkdtempSync(join(tmpdir(), "oc-watched-"));
  writeFileSync(join(W, "victim.txt"), "a host file that must never change\n", { mode: 0o644 });
  writeFileSync(join(W, "shadow"), `${SECRET}\n`, { mode: 0o600 });
  mkdirSync(join(W, "etc"));
  writeFileSync(join(W, "etc", "passwd"), "root:x:0:0::/root:/bin/sh\n");
  // A host database with a scheduled job: reading it through a tenant's link would report its time.
  const db = new DatabaseSync(join(W, "cron.sqlite"));
  db.exec("CREATE TABLE cron_jobs (enabled INTEGER NOT NULL, state_json TEXT NOT NULL)");
  db.prepare("INSERT INTO cron_jobs VALUES (1, ?)").run(JSON.stringify({ nextRunAtMs: NEXT_JOB }));
  db.close();
  watched = fingerprint(W);
}, 120_000);

afterAll(async () => {
  for (const u of users) await runtime.remove(u, { deleteState: true }).catch(() => {});
  await close?.();
});

describe("a hostile tenant's links, hard links and FIFOs in its state dir", () => {
  let u = "";
  let ws = "";
  beforeAll(async () => {
    u = newUser();
    await runtime.provision(spec(u, { "workspace/SOUL.md": "# SOUL\n" }));
    ws = join(stateRoot, u, "workspace");
  }, 60_000);

  it("a write through a planted file link (or a dangling one) is refused and the host file keeps its bytes, owner and mode; a plain name gets the write", async () => {
    await attack(u, `ln -s ${W}/victim.txt workspace/notes.md; ln -s ${W}/created-by-the-platform.md workspace/dangling.md`);
    expect(await failure(runtime.files(u, "write", "notes.md", b64("tenant bytes")))).toMatch(/refused path: notes.md is a link/);
    expect(await failure(runtime.files(u, "write", "dangling.md", b64("tenant bytes")))).toMatch(/refused path: dangling.md is a link/);
    expectWatchedUntouched(); // victim.txt unchanged and not chowned; no created-by-the-platform.md
    expect(readlinkSync(join(ws, "notes.md"))).toBe(`${W}/victim.txt`); // the link itself is left as it was

    // Positive control: the same write to a plain name lands in the workspace, owned by the agent's user.
    await runtime.files(u, "write", "ok.md", b64("tenant bytes"));
    const st = statSync(join(ws, "ok.md"));
    expect([readFileSync(join(ws, "ok.md"), "utf8"), st.uid, st.gid, st.mode & 0o777]).toEqual(["tenant bytes", 1000, 1000, 0o644]);
    expect(await attack(u, "cat workspace/ok.md")).toBe("tenant bytes");
  });

  it("folder links along the way, links into /proc, '..' and absolute paths are refused by write, read, list and delete", async () => {
    await attack(
      u,
      `ln -s ${W} workspace/docs; ln -s /proc/self workspace/proc; ln -s /proc/self/environ workspace/env.md; ln -s ${W}/shadow workspace/leak.md`,
    );
    const messages = [
      await failure(runtime.files(u, "write", "docs/planted.md", b64("x"))),
      await failure(runtime.files(u, "write", "docs/victim.txt", b64("x"))),
      await failure(runtime.files(u, "read", "docs/shadow")),
      await failure(runtime.files(u, "list", "docs")),
      await failure(runtime.files(u, "delete", "docs/victim.txt")),
      await failure(runtime.files(u, "read", "leak.md")),
      await failure(runtime.files(u, "read", "env.md")),
      await failure(runtime.files(u, "read", "proc/environ")),
      await failure(runtime.files(u, "write", "proc/root/tmp/x", b64("x"))),
      await failure(runtime.files(u, "read", "../openclaw.json")),
      await failure(runtime.files(u, "read", "/etc/passwd")),
    ];
    for (const m of messages) expect(m).toMatch(/^refused path: /);
    expect(messages.join("\n")).not.toContain(SECRET);
    expect(messages.join("\n")).not.toMatch(/PATH=|HOME=/); // the node agent's own environment
    const listed = ((await runtime.files(u, "list", "")) as { entries: { name: string }[] }).entries.map((e) => e.name);
    expect(listed).not.toEqual(expect.arrayContaining(["docs"]));
    expect(listed.filter((n) => ["docs", "proc", "env.md", "leak.md", "notes.md"].includes(n))).toEqual([]);
    expectWatchedUntouched();

    // Positive control: real folders along the way are created (owned by the agent) and read back.
    await runtime.files(u, "write", "deep/er/x.md", b64("deep"));
    expect([statSync(join(ws, "deep")).uid, statSync(join(ws, "deep", "er")).uid, statSync(join(ws, "deep", "er", "x.md")).uid]).toEqual([1000, 1000, 1000]);
    expect(unb64(await runtime.files(u, "read", "deep/er/x.md"))).toBe("deep");
    expect(await runtime.files(u, "list", "deep")).toMatchObject({ path: "deep", entries: [{ name: "er", type: "dir" }] });
  });

  it("a hard link is neither read nor written, a FIFO never blocks, and deleting a link removes the link, not its target", async () => {
    await attack(
      u,
      `echo original > keep.txt; ln keep.txt workspace/hard.md; mkfifo workspace/pipe.md; ln -s ${W} workspace/gone;
       mkdir -p workspace/real/sub; echo x > workspace/real/sub/f; ln -s ${W} workspace/real/sub/out; ln -s ${W}/victim.txt workspace/real/v`,
    );
    expect(await failure(runtime.files(u, "write", "hard.md", b64("through the hard link")))).toMatch(/refused path: hard.md is a hard link/);
    expect(await failure(runtime.files(u, "read", "hard.md"))).toMatch(/refused path: hard.md is a hard link/);
    expect(readFileSync(join(stateRoot, u, "keep.txt"), "utf8")).toBe("original\n");
    expect(await failure(runtime.files(u, "read", "pipe.md"))).toMatch(/refused path: pipe.md is a FIFO/);
    expect(await failure(runtime.files(u, "write", "pipe.md", b64("x")))).toMatch(/refused path: pipe.md is a FIFO/);
    expect(lstatSync(join(ws, "pipe.md")).isFIFO()).toBe(true);

    await runtime.files(u, "delete", "gone");
    expect(existsSync(join(ws, "gone")) || lstatSync(join(ws, "gone"), { throwIfNoEntry: false })).toBeFalsy();
    // Positive control: a recursive delete of a real folder (with links to the host inside) empties it.
    await runtime.files(u, "delete", "real");
    expect(lstatSync(join(ws, "real"), { throwIfNoEntry: false })).toBeUndefined();
    expectWatchedUntouched();
  });

  it("memory sync (read MEMORY.md, rewrite it) refuses a planted link and leaks nothing; on a plain MEMORY.md it works and the agent keeps owning it", async () => {
    const sync = async (line: string) => {
      const current = await runtime.files(u, "read", "MEMORY.md").then(unb64, () => "# MEMORY\n");
      await runtime.files(u, "write", "MEMORY.md", b64(`${current.trimEnd()}\n- ${line}\n`));
    };
    await attack(u, `ln -s ${W}/shadow workspace/MEMORY.md`);
    expect(await failure(runtime.files(u, "read", "MEMORY.md"))).toMatch(/refused path: MEMORY.md is a link/);
    expect(await failure(sync("green tea"))).toMatch(/refused path: MEMORY.md is a link/);
    expect(await failure(sync("green tea"))).not.toContain(SECRET);
    expectWatchedUntouched();

    // Positive control: the tenant's own plain MEMORY.md is read and rewritten, and stays the agent's.
    await attack(u, "rm workspace/MEMORY.md; printf '# MEMORY\\nmy own note\\n' > workspace/MEMORY.md");
    await sync("green tea");
    expect(readFileSync(join(ws, "MEMORY.md"), "utf8")).toBe("# MEMORY\nmy own note\n- green tea\n");
    expect(statSync(join(ws, "MEMORY.md")).uid).toBe(1000);
    expect(await attack(u, "cat workspace/MEMORY.md; echo more >> workspace/MEMORY.md")).toContain("- green tea");
  });

  it("persona and config pushes refuse links and FIFOs at SOUL.md, IDENTITY.md, openclaw.json and the workspace itself", async () => {
    const persona = { "workspace/SOUL.md": "# SOUL\nBe kind.\n", "workspace/IDENTITY.md": "# IDENTITY\nAda\n" };
    await attack(u, `rm workspace/SOUL.md; ln -s ${W}/victim.txt workspace/SOUL.md; ln -s ${W}/identity.md workspace/IDENTITY.md`);
    expect(await failure(runtime.configure(spec(u, persona)))).toMatch(/refused path: workspace\/SOUL.md is a link/);
    await attack(u, "rm workspace/SOUL.md");
    expect(await failure(runtime.configure(spec(u, persona)))).toMatch(/refused path: workspace\/IDENTITY.md is a link/);
    expectWatchedUntouched(); // victim.txt not overwritten, chowned or chmodded; no identity.md

    await attack(u, `rm workspace/IDENTITY.md; mv openclaw.json config.bak; ln -s ${W}/victim.txt openclaw.json`);
    expect(await failure(runtime.configure(spec(u)))).toMatch(/refused path: openclaw.json is a link/);
    await attack(u, "rm openclaw.json; mkfifo openclaw.json");
    expect(await failure(runtime.configure(spec(u)))).toMatch(/refused path: openclaw.json is a FIFO/);
    await attack(u, `rm openclaw.json; ln config.bak openclaw.json`);
    expect(await failure(runtime.configure(spec(u)))).toMatch(/refused path: openclaw.json is a hard link/);
    expect(readFileSync(join(stateRoot, u, "config.bak"), "utf8")).toContain('"gateway"');
    await attack(u, `rm openclaw.json; mv config.bak openclaw.json; mv workspace ws.old; ln -s ${W} workspace`);
    expect(await failure(runtime.configure(spec(u, persona)))).toMatch(/refused path: workspace is a link/);
    expect(await failure(runtime.files(u, "write", "x.md", b64("x")))).toMatch(/refused path: workspace is a link/);
    expectWatchedUntouched(); // the watched folder itself keeps its owner and mode, and gets no SOUL.md

    // Positive control: with plain files in place, the same pushes land, owned by the agent, config 0600.
    await attack(u, "rm workspace; mv ws.old workspace");
    expect(await runtime.configure(spec(u, persona))).toEqual({ restarted: true });
    const soul = statSync(join(ws, "SOUL.md"));
    expect([readFileSync(join(ws, "SOUL.md"), "utf8"), soul.uid]).toEqual(["# SOUL\nBe kind.\n", 1000]);
    expect(readFileSync(join(ws, "IDENTITY.md"), "utf8")).toBe("# IDENTITY\nAda\n");
    const cfg = statSync(join(stateRoot, u, "openclaw.json"));
    expect([cfg.uid, cfg.gid, cfg.mode & 0o777]).toEqual([1000, 1000, 0o600]);
    expect(JSON.parse(readFileSync(join(stateRoot, u, "openclaw.json"), "utf8")).marker).toBe(2);
  }, 60_000);

  it("sleep archives no link out, no FIFO and no outside content, reads the cron database only from inside, and removing and restoring the state follows nothing", async () => {
    await attack(
      u,
      `mkdir -p state; ln -s ${W}/cron.sqlite state/openclaw.sqlite; ln -s ${W}/shadow leak; ln -s ${W} workspace/out; mkfifo fifo;
       ln -s workspace/ok.md inner; echo shared > workspace/a.md; ln workspace/a.md workspace/b.md`,
    );
    const slept = await within(runtime.sleep(u), 30_000);
    expect(slept.nextCronAt).toBeUndefined(); // the host database's job (NEXT_JOB) was not read through the link
    const archive = gunzipSync(await (await client.send(new GetObjectCommand({ Bucket: "openclaw-state", Key: slept.key }))).Body!.transformToByteArray());
    expect(archive.includes(SECRET)).toBe(false);
    expect(archive.includes("a host file that must never change")).toBe(false);
    const entries = await entriesOf(Buffer.from(archive));
    for (const out of ["leak", "workspace/out", "fifo", "state/openclaw.sqlite"]) expect(entries.has(out), out).toBe(false);
    expect(entries.get("inner")).toBe("SymbolicLink:workspace/ok.md");
    expect(entries.get("workspace/b.md")).toBe("Link:workspace/a.md");

    // The node loses the agent: deleting its state must not follow `out` into the watched tree.
    await runtime.remove(u, { deleteState: true });
    expect(existsSync(join(stateRoot, u))).toBe(false);
    expectWatchedUntouched();

    const woke = await runtime.wake(spec(u));
    expect(woke.restoredFrom).toBe(slept.key);
    expect(readFileSync(join(stateRoot, u, "inner"), "utf8")).toBe("tenant bytes");
    expect(statSync(join(ws, "a.md")).ino).toBe(statSync(join(ws, "b.md")).ino);
    expect(lstatSync(join(ws, "MEMORY.md")).uid).toBe(1000);
    expect(readdirSync(join(stateRoot, u)).filter((n) => ["leak", "fifo"].includes(n))).toEqual([]);
    expect(await attack(u, "cat workspace/MEMORY.md")).toContain("- green tea"); // the agent's state came back

    // A FIFO at the cron database's path must not block the sleep.
    await attack(u, "rm -f state/openclaw.sqlite; mkfifo state/openclaw.sqlite");
    expect((await within(runtime.sleep(u), 30_000)).nextCronAt).toBeUndefined();
    await runtime.wake(spec(u));
    // Positive control: the agent's own database inside its state dir is read.
    await attack(u, "rm state/openclaw.sqlite");
    copyFileSync(join(W, "cron.sqlite"), join(stateRoot, u, "state", "openclaw.sqlite"));
    chownSync(join(stateRoot, u, "state", "openclaw.sqlite"), 1000, 1000);
    expect((await runtime.sleep(u)).nextCronAt).toBe(NEXT_JOB);
    expectWatchedUntouched();
  }, 120_000);
});

describe("a command naming a path instead of a user", () => {
  it("is refused before the node touches its disk; a real user id works", async () => {
    for (const bad of ["..", "../..", `..${W}`, "usr_x/../../etc", "usr_x/workspace", ""])
      for (const op of [
        () => runtime.files(bad, "write", "x.md", b64("x")),
        () => runtime.files(bad, "read", "shadow"),
        () => runtime.sleep(bad),
        () => runtime.remove(bad, { deleteState: true }),
      ])
        expect(await failure(op())).toMatch(/^refused: invalid user id/);
    expectWatchedUntouched();
    const u = newUser(); // positive control
    expect(await runtime.files(u, "write", "x.md", b64("x"))).toEqual({ path: "x.md", bytes: 1 });
  });
});

describe("a crafted archive planted for a victim", () => {
  it("is refused by restore with a logged reason, the victim's state untouched; a clean archive restores", async () => {
    const v = newUser();
    await runtime.provision(spec(v));
    await runtime.files(v, "write", "keep.md", b64("the victim's notes"));
    await runtime.remove(v); // the container is gone (e.g. a lost node); the state dir stays
    const dir = join(stateRoot, v);
    const before = fingerprint(dir);
    const siblings = readdirSync(stateRoot).sort();
    const rel = `../../../../../../../..${W}`;
    const crafted: [string, Crafted[]][] = [
      ['a "../" path', [{ path: `${rel}/planted.txt`, body: "x" }]],
      ["an absolute path", [{ path: `${W}/planted.txt`, body: "x" }]],
      ["a symlink to /", [{ path: "root", type: "SymbolicLink", linkpath: "/" }]],
      [
        "a symlink out with a file through it",
        [
          { path: "w", type: "SymbolicLink", linkpath: W },
          { path: "w/planted.txt", body: "x" },
        ],
      ],
      ["a hard link out", [{ path: "shadow", type: "Link", linkpath: `${W}/shadow` }]],
      ["a relative hard link out", [{ path: "shadow", type: "Link", linkpath: `${rel}/shadow` }]],
      ["a device", [{ path: "mem", type: "CharacterDevice", devmaj: 1, devmin: 1, size: 0 }]],
      ["an oversized entry", [{ path: "workspace/huge.bin", size: 3 * 1024 ** 3 }]],
    ];
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      for (const [i, [what, entries]] of crafted.entries()) {
        const key = `state/${v}/9999-${String(i).padStart(2, "0")}.tar.gz`;
        await client.send(new PutObjectCommand({ Bucket: "openclaw-state", Key: key, Body: tarball([{ path: "workspace/", type: "Directory" }, ...entries]) }));
        const message = await failure(runtime.wake(spec(v)));
        expect(message, what).toMatch(new RegExp(`^refused to restore ${key}: `));
        expect(warn.mock.calls.at(-1)?.[0], what).toContain(`refused to restore ${key}`);
        expect(fingerprint(dir), what).toEqual(before);
        expect(readdirSync(stateRoot).sort(), what).toEqual(siblings); // nothing beside it, no temp dir left
        expectWatchedUntouched();
        expect(await docker.inspect(AgentRuntime.containerName(v))).toBeUndefined(); // never started on it
      }
    } finally {
      warn.mockRestore();
    }

    // Positive control: a clean archive with an inside link and hard link replaces the state and starts.
    const key = `state/${v}/9999-99.tar.gz`;
    const good = tarball([
      { path: "workspace/", type: "Directory" },
      { path: "workspace/restored.md", body: "restored", uid: 0, mode: 0o4755 },
      { path: "workspace/alias.md", type: "SymbolicLink", linkpath: "restored.md" },
      { path: "workspace/h1.md", body: "shared" },
      { path: "workspace/h2.md", type: "Link", linkpath: "workspace/h1.md" },
    ]);
    await client.send(new PutObjectCommand({ Bucket: "openclaw-state", Key: key, Body: good }));
    expect((await runtime.wake(spec(v))).restoredFrom).toBe(key);
    expect(unb64(await runtime.files(v, "read", "restored.md"))).toBe("restored");
    const st = statSync(join(dir, "workspace", "restored.md"));
    expect([st.uid, st.mode & 0o7777]).toEqual([1000, 0o755]); // the agent's, without the setuid bit
    expect(statSync(join(dir, "workspace", "h2.md")).ino).toBe(statSync(join(dir, "workspace", "h1.md")).ino);
    expect(readlinkSync(join(dir, "workspace", "alias.md"))).toBe("restored.md");
    expect(existsSync(join(dir, "workspace", "keep.md"))).toBe(false); // replaced as a whole
    expect(readdirSync(stateRoot).filter((n) => n.startsWith("."))).toEqual([]);
  }, 120_000);
});
