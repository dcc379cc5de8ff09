import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { nodes } from "@oc/db/schema";
import { sha256Hex } from "@oc/contracts/crypto";
import { newId } from "@oc/contracts/ids";
import { withDb } from "../../edge/test/helpers";
import { DONE_RETENTION_MS, FILE_OPS_PER_MINUTE_USER, MAX_OPEN_PER_USER } from "../../durable-objects/src/node-commands";

/**
 * A node is hostile once one of its containers escapes: it may send any frame it likes over its own
 * authenticated socket. These tests play such a node and check that NodeLink believes it only about
 * commands it sent that node, for that user, while they are open.
 */
const metrics = { ramTotalMb: 16000, ramUsedMb: 4000, cpuPercent: 1, diskTotalMb: 200000, diskUsedMb: 50000, containerCount: 0 };
const spec = (userId: string) => ({ userId, image: "i", host: "h", config: {}, gatewayToken: "G".repeat(40), memoryMb: 512, cpus: 1, pidsLimit: 256 });
const user = (tag: string) => `usr_${tag.repeat(24).slice(0, 24)}`;

async function registerNode() {
  const id = newId("node");
  const secret = crypto.randomUUID();
  await withDb(async (db) => db.insert(nodes).values({ id, name: id, status: "active", secretHash: await sha256Hex(secret) }));
  return { id, secret };
}

async function agentSocket(id: string, secret: string) {
  const { exports } = await import("cloudflare:workers");
  const res = await exports.default.fetch(
    new Request(`http://localhost/api/nodes/${id}/connect`, { headers: { upgrade: "websocket", authorization: `Bearer ${secret}` } }),
  );
  const ws = res.webSocket!;
  ws.accept();
  ws.send(JSON.stringify({ type: "hello", protocol: 1, agentVersion: "0.1.0", metrics, containers: [] }));
  return ws;
}

/** Frames are handled in order before later calls on the object. */
const settle = async (id: string) => {
  for (let i = 0; i < 3; i++) await env.NODE_LINK.getByName(id).getStatus();
};

async function userWithStatus(userId: string, nodeId: string, status: "ready" | "sleeping" | "starting") {
  const ua = env.USER_AGENT.getByName(userId);
  await ua.init(userId);
  await ua.setPlacement(nodeId);
  await ua.setStatus(status);
  return ua;
}

let warnings: string[] = [];
beforeEach(() => {
  warnings = [];
  vi.spyOn(console, "warn").mockImplementation((...args: unknown[]) => void warnings.push(args.join(" ")));
});
afterEach(() => vi.restoreAllMocks());

describe("NodeLink believes a node only about commands it sent it", () => {
  it("drops progress for a user the node was not asked to start, or for a closed command; applies the real one", async () => {
    const node = await registerNode();
    const other = await registerNode();
    const mine = user("mine");
    const victim = user("vict");
    await userWithStatus(mine, node.id, "starting");
    const victimAgent = await userWithStatus(victim, other.id, "ready");
    const ws = await agentSocket(node.id, node.secret);
    const link = env.NODE_LINK.getByName(node.id);
    await settle(node.id);
    await link.sendCommand({ kind: "provision", spec: spec(mine) }, "prov-mine");

    // Forged: a real open command id, but another user's id; an id never sent; a non-start command.
    ws.send(JSON.stringify({ type: "progress", id: "prov-mine", userId: victim, step: "creating" }));
    ws.send(JSON.stringify({ type: "progress", id: "prov-invented", userId: victim, step: "starting" }));
    await link.sendCommand({ kind: "ping" }, "ping-1");
    ws.send(JSON.stringify({ type: "progress", id: "ping-1", userId: victim, step: "creating" }));
    await link.sendCommand({ kind: "cron", userId: mine, op: "list" }, "cron-mine");
    ws.send(JSON.stringify({ type: "progress", id: "cron-mine", userId: mine, step: "ready" }));
    await settle(node.id);
    expect((await victimAgent.getSnapshot()).status).toBe("ready");
    expect(warnings.join("\n")).toMatch(/dropped progress for usr_victvict\w*, but command prov-mine is for usr_minemine/);
    expect(warnings.join("\n")).toMatch(/dropped progress for command prov-invented, which this link never sent/);
    expect(warnings.join("\n")).toMatch(/dropped progress for usr_victvict\w*, but command ping-1 is for no user/);
    expect(warnings.join("\n")).toMatch(/dropped progress for a cron command/);
    expect((await env.USER_AGENT.getByName(mine).getSnapshot()).status).toBe("starting");

    // Positive control: the same frame for the user the command is for is applied.
    ws.send(JSON.stringify({ type: "progress", id: "prov-mine", userId: mine, step: "creating" }));
    await settle(node.id);
    expect((await env.USER_AGENT.getByName(mine).getSnapshot()).status).toBe("creating");

    // Once answered the command is closed: a late progress frame cannot move the agent back.
    ws.send(JSON.stringify({ type: "result", id: "prov-mine", ok: true, result: {} }));
    await settle(node.id);
    expect((await env.USER_AGENT.getByName(mine).getSnapshot()).status).toBe("ready");
    ws.send(JSON.stringify({ type: "progress", id: "prov-mine", userId: mine, step: "creating" }));
    await settle(node.id);
    expect((await env.USER_AGENT.getByName(mine).getSnapshot()).status).toBe("ready");
    expect(warnings.join("\n")).toMatch(/dropped progress for command prov-mine, which was already answered/);
    ws.close(1000, "done");
  });

  it("drops a replayed result, a result for an unknown id and one for another node's command", async () => {
    const node = await registerNode();
    const other = await registerNode();
    const mine = user("repl");
    const victim = user("othr");
    const mineAgent = await userWithStatus(mine, node.id, "starting");
    const victimAgent = await userWithStatus(victim, other.id, "starting");
    const ws = await agentSocket(node.id, node.secret);
    const otherWs = await agentSocket(other.id, other.secret);
    const link = env.NODE_LINK.getByName(node.id);
    const otherLink = env.NODE_LINK.getByName(other.id);
    await settle(node.id);
    await settle(other.id);

    // Positive control: the legitimate answer is applied.
    await link.sendCommand({ kind: "wake", spec: spec(mine) }, "wake-mine");
    ws.send(JSON.stringify({ type: "result", id: "wake-mine", ok: true, result: {} }));
    await settle(node.id);
    expect((await mineAgent.getSnapshot()).status).toBe("ready");

    // Replay: the agent is asleep since; the old "wake ok" must not bring it back to ready, nor a failure mark it failed.
    await link.sendCommand({ kind: "sleep", userId: mine }, "sleep-mine");
    ws.send(JSON.stringify({ type: "result", id: "sleep-mine", ok: true, result: {} }));
    await settle(node.id);
    expect((await mineAgent.getSnapshot()).status).toBe("sleeping");
    ws.send(JSON.stringify({ type: "result", id: "wake-mine", ok: true, result: {} }));
    ws.send(JSON.stringify({ type: "result", id: "wake-mine", ok: false, error: "forged" }));
    await settle(node.id);
    expect((await mineAgent.getSnapshot()).status).toBe("sleeping");
    expect(await link.getCommandResult("wake-mine")).toEqual({ done: true, ok: true, resultJson: "{}", error: null });
    expect(warnings.join("\n")).toMatch(/dropped a repeated result for command wake-mine/);

    // Unknown id, and the id of a command the platform sent to another node for another user.
    await otherLink.sendCommand({ kind: "wake", spec: spec(victim) }, "wake-victim");
    ws.send(JSON.stringify({ type: "result", id: "invented-1", ok: false, error: "x" }));
    ws.send(JSON.stringify({ type: "result", id: "wake-victim", ok: false, error: "forged failure" }));
    await settle(node.id);
    expect((await victimAgent.getSnapshot()).status).toBe("starting");
    expect(await otherLink.getCommandResult("wake-victim")).toEqual({ done: false });
    expect(warnings.join("\n")).toMatch(/dropped a result for command invented-1, which this link never sent/);
    expect(warnings.join("\n")).toMatch(/dropped a result for command wake-victim, which this link never sent/);

    // Positive control: the node the command went to answers it, and that is applied.
    otherWs.send(JSON.stringify({ type: "result", id: "wake-victim", ok: true, result: {} }));
    await settle(other.id);
    expect((await victimAgent.getSnapshot()).status).toBe("ready");
    ws.close(1000, "done");
    otherWs.close(1000, "done");
  });

  it("refuses commands over the per-tenant queue and file-rate limits, with a reason, and not another tenant's", async () => {
    const node = await registerNode();
    const ws = await agentSocket(node.id, node.secret);
    const link = env.NODE_LINK.getByName(node.id);
    await settle(node.id);
    const busy = user("busy");
    const calm = user("calm");
    for (let i = 0; i < MAX_OPEN_PER_USER; i++) expect((await link.sendCommand({ kind: "cron", userId: busy, op: "list" }, `cron-${i}`)).delivered).toBe(true);
    const over = await link.sendCommand({ kind: "cron", userId: busy, op: "list" }, "cron-over");
    expect(over).toMatchObject({ delivered: false, refused: expect.stringMatching(/too many unanswered requests for this agent/) });
    expect(await link.getCommandResult("cron-over")).toEqual({ done: false });
    // Another tenant on the same node is not held up, and lifecycle steps of the busy tenant still go out.
    expect((await link.sendCommand({ kind: "cron", userId: calm, op: "list" }, "cron-calm")).delivered).toBe(true);
    expect((await link.sendCommand({ kind: "sleep", userId: busy }, "sleep-busy")).delivered).toBe(true);
    // Answers free room again (the positive control for the limit itself).
    ws.send(JSON.stringify({ type: "result", id: "cron-0", ok: true, result: [] }));
    await settle(node.id);
    expect((await link.sendCommand({ kind: "cron", userId: busy, op: "list" }, "cron-after")).delivered).toBe(true);

    // File requests are also limited per minute, answered or not.
    const reader = user("read");
    for (let i = 0; i < FILE_OPS_PER_MINUTE_USER; i++) {
      expect((await link.sendCommand({ kind: "files", userId: reader, op: "list", path: "" }, `f-${i}`)).delivered).toBe(true);
      ws.send(JSON.stringify({ type: "result", id: `f-${i}`, ok: true, result: [] }));
      if (i % 40 === 39) await settle(node.id); // answered, so only the rate (not the open-queue limit) applies
    }
    await settle(node.id);
    expect(await link.sendCommand({ kind: "files", userId: reader, op: "list", path: "" }, "f-over")).toMatchObject({
      delivered: false,
      refused: expect.stringMatching(/too many file requests for this agent/),
    });
    expect((await link.sendCommand({ kind: "files", userId: calm, op: "list", path: "" }, "f-calm")).delivered).toBe(true);
    // A minute later the window has moved on.
    await runInDurableObject(link, (_o, state) => void state.storage.sql.exec("UPDATE file_ops SET at = at - 61000"));
    expect((await link.sendCommand({ kind: "files", userId: reader, op: "list", path: "" }, "f-later")).delivered).toBe(true);
    expect(warnings.join("\n")).toMatch(/refused a files command for usr_readread\w*: too many file requests/);
    ws.close(1000, "done");
  });

  it("keeps specs and file contents sealed at rest, drops them once answered, and prunes old answers", async () => {
    const node = await registerNode();
    const ws = await agentSocket(node.id, node.secret);
    const link = env.NODE_LINK.getByName(node.id);
    await settle(node.id);
    const u = user("seal");
    const secretContent = btoa("the tenant's private notes 4f1c");
    await link.sendCommand({ kind: "provision", spec: spec(u) }, "prov-seal");
    await link.sendCommand({ kind: "files", userId: u, op: "write", path: "notes.md", content: secretContent }, "write-seal");
    await link.sendCommand({ kind: "files", userId: u, op: "read", path: "notes.md" }, "read-seal");
    const dump = () =>
      runInDurableObject(link, (_o, state) => {
        const tables = state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf%'").toArray();
        return tables.map((t) => JSON.stringify(state.storage.sql.exec(`SELECT * FROM "${t.name}"`).toArray())).join("\n");
      });
    let stored = await dump();
    expect(stored).toContain("prov-seal"); // positive control: the rows are there …
    expect(stored).not.toContain("G".repeat(40)); // … but not the gateway token
    expect(stored).not.toContain(secretContent);

    ws.send(JSON.stringify({ type: "result", id: "read-seal", ok: true, result: { content: secretContent } }));
    ws.send(JSON.stringify({ type: "result", id: "prov-seal", ok: true, result: {} }));
    await settle(node.id);
    expect(JSON.parse((await link.getCommandResult("read-seal")).resultJson!)).toEqual({ content: secretContent });
    stored = await dump();
    expect(stored).not.toContain(secretContent);
    const bodies = await runInDurableObject(link, (_o, state) =>
      state.storage.sql.exec<{ id: string; sealed: string | null }>("SELECT id, sealed FROM node_commands ORDER BY id").toArray(),
    );
    expect(bodies.map((b) => [b.id, b.sealed === null])).toEqual([
      ["prov-seal", true],
      ["read-seal", true],
      ["write-seal", false],
    ]);

    // Answers past their retention are pruned at the next heartbeat; the unanswered one stays.
    await runInDurableObject(
      link,
      (_o, state) => void state.storage.sql.exec("UPDATE node_commands SET done_at = ? WHERE done_at IS NOT NULL", Date.now() - DONE_RETENTION_MS - 1),
    );
    ws.send(JSON.stringify({ type: "heartbeat", metrics }));
    await settle(node.id);
    expect(await link.getCommandResult("read-seal")).toEqual({ done: false });
    const left = await runInDurableObject(link, (_o, state) =>
      state.storage.sql
        .exec<{ id: string }>("SELECT id FROM node_commands")
        .toArray()
        .map((r) => r.id),
    );
    expect(left).toEqual(["write-seal"]);
    ws.close(1000, "done");
  });

  it("moves unanswered commands out of the old clear-text table, sealed, and still re-sends them", async () => {
    const node = await registerNode();
    const link = env.NODE_LINK.getByName(node.id);
    const u = user("legc");
    await runInDurableObject(link, (_o, state) => {
      state.storage.sql.exec(
        "CREATE TABLE commands (id TEXT PRIMARY KEY, command TEXT NOT NULL, sent_at INTEGER NOT NULL, done_at INTEGER, ok INTEGER, result TEXT, error TEXT)",
      );
      state.storage.sql.exec(
        "INSERT INTO commands (id, command, sent_at) VALUES ('legacy-open', ?, ?)",
        JSON.stringify({ kind: "wake", spec: spec(u) }),
        Date.now(),
      );
      state.storage.sql.exec(
        "INSERT INTO commands (id, command, sent_at, done_at, ok) VALUES ('legacy-done', ?, ?, ?, 1)",
        JSON.stringify({ kind: "wake", spec: spec(u) }),
        Date.now(),
        Date.now(),
      );
    });
    // A fresh instance runs the migration (the same happens after a deploy).
    await runInDurableObject(link, async (obj) => {
      await (obj as unknown as { commands: { migrateLegacy(): Promise<void> } }).commands.migrateLegacy();
    });
    const tables = await runInDurableObject(link, (_o, state) =>
      state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .toArray()
        .map((t) => t.name),
    );
    expect(tables).not.toContain("commands");
    const { exports } = await import("cloudflare:workers");
    const res = await exports.default.fetch(
      new Request(`http://localhost/api/nodes/${node.id}/connect`, { headers: { upgrade: "websocket", authorization: `Bearer ${node.secret}` } }),
    );
    const ws = res.webSocket!;
    const frames: any[] = [];
    ws.addEventListener("message", (e) => frames.push(JSON.parse(e.data as string)));
    ws.accept();
    ws.send(JSON.stringify({ type: "hello", protocol: 1, agentVersion: "0.1.0", metrics, containers: [] }));
    await settle(node.id);
    expect(frames.filter((f) => f.type === "command").map((f) => [f.id, f.command.spec.gatewayToken])).toEqual([["legacy-open", "G".repeat(40)]]);
    ws.close(1000, "done");
  });
});
