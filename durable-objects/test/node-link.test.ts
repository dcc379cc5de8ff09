import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { nodes } from "@oc/db/schema";
import { sha256Hex } from "@oc/contracts/crypto";
import { newId } from "@oc/contracts/ids";
import { call, withDb } from "../../edge/test/helpers";

const metrics = { ramTotalMb: 16000, ramUsedMb: 4000, cpuPercent: 12.5, diskTotalMb: 200000, diskUsedMb: 50000, containerCount: 3 };

async function registerNode() {
  const id = newId("node");
  const secret = crypto.randomUUID();
  await withDb((db) =>
    db
      .insert(nodes)
      .values({ id, name: id, status: "active", secretHash: "" })
      .then(async () => db.update(nodes).set({ secretHash: await sha256Hex(secret) })),
  );
  return { id, secret };
}

/** Opens the node agent's socket the way the agent does: GET /api/nodes/:id/connect with Upgrade. */
async function connect(id: string, secret: string) {
  const res = await call(`/api/nodes/${id}/connect`, { headers: { upgrade: "websocket", authorization: `Bearer ${secret}` } });
  return res;
}

function next(ws: WebSocket): Promise<any> {
  return new Promise((resolve) => ws.addEventListener("message", (e) => resolve(JSON.parse(e.data as string)), { once: true }));
}

describe("NodeLink Durable Object (per node, WebSocket hibernation)", () => {
  it("refuses a wrong secret and an unknown node", async () => {
    const { id } = await registerNode();
    expect((await connect(id, "wrong")).status).toBe(401);
    expect((await connect("node_unknown", "x")).body.error.code).toBe("UNAUTHORIZED");
  });

  it("accepts the agent, records heartbeats and relays commands with their results", async () => {
    const { id, secret } = await registerNode();
    const { exports } = await import("cloudflare:workers");
    const res = await exports.default.fetch(
      new Request(`http://localhost/api/nodes/${id}/connect`, {
        headers: { upgrade: "websocket", authorization: `Bearer ${secret}`, "cf-connecting-ip": "10.9.9.9" },
      }),
    );
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const welcome = next(ws);
    ws.accept();
    expect(await welcome).toEqual({ type: "welcome", nodeId: id, heartbeatMs: 15000 });

    ws.send(JSON.stringify({ type: "hello", protocol: 1, agentVersion: "0.1.0", metrics }));
    const err = next(ws);
    ws.send("{not json");
    expect(await err).toEqual({ type: "error", message: "malformed frame" });

    const link = env.NODE_LINK.getByName(id);
    const status = await link.getStatus();
    expect(status).toMatchObject({ nodeId: id, connected: true, agentVersion: "0.1.0", metrics });

    const cmd = next(ws);
    const sent = await link.sendCommand({ kind: "ping" }, "cmd-1");
    expect(sent).toEqual({ id: "cmd-1", delivered: true });
    expect(await cmd).toEqual({ type: "command", id: "cmd-1", command: { kind: "ping" } });
    expect((await link.getCommandResult("cmd-1")).done).toBe(false);
    ws.send(JSON.stringify({ type: "result", id: "cmd-1", ok: true, result: { pong: true } }));
    await link.getStatus(); // the result frame is handled before the next call on the object
    expect(await link.getCommandResult("cmd-1")).toEqual({ done: true, ok: true, resultJson: '{"pong":true}', error: null });
    ws.close(1000, "done");
  });
});

/** Connects as the node agent and collects every frame the edge sends. */
async function agentSocket(id: string, secret: string) {
  const { exports } = await import("cloudflare:workers");
  const res = await exports.default.fetch(
    new Request(`http://localhost/api/nodes/${id}/connect`, { headers: { upgrade: "websocket", authorization: `Bearer ${secret}` } }),
  );
  const ws = res.webSocket!;
  const frames: any[] = [];
  ws.addEventListener("message", (e) => frames.push(JSON.parse(e.data as string)));
  ws.accept();
  return { ws, frames };
}

const settle = async (id: string) => {
  for (let i = 0; i < 3; i++) await env.NODE_LINK.getByName(id).getStatus(); // frames are handled in order before these calls
};

describe("NodeLink after a reconnect", () => {
  it("sends unanswered commands again, and gives up those older than the expiry", async () => {
    const { id, secret } = await registerNode();
    const link = env.NODE_LINK.getByName(id);
    // Queued while the node was offline (a wake for a message, say) …
    expect(await link.sendCommand({ kind: "ping" }, "while-offline")).toEqual({ id: "while-offline", delivered: false });
    // … but provisioning asks for a connected node only, and is not kept.
    expect(await link.sendCommand({ kind: "ping" }, "provision-like", { onlyIfConnected: true })).toEqual({ id: "provision-like", delivered: false });
    await link.sendCommand({ kind: "sleep", userId: "usr_expiredexpiredexpiredex" }, "too-old");
    await runInDurableObject(
      link,
      (_o, state) => void state.storage.sql.exec("UPDATE node_commands SET sent_at = ? WHERE id = 'too-old'", Date.now() - 2 * 60 * 60_000),
    );

    const { ws, frames } = await agentSocket(id, secret);
    ws.send(JSON.stringify({ type: "hello", protocol: 1, agentVersion: "0.1.0", metrics, containers: [] }));
    await settle(id);
    expect(frames.filter((f) => f.type === "command").map((f) => f.id)).toEqual(["while-offline"]);
    expect(await link.getCommandResult("provision-like")).toEqual({ done: false });
    expect(await link.getCommandResult("too-old")).toMatchObject({ done: true, ok: false, error: expect.stringContaining("offline too long") });
    ws.close(1000, "done");
  });

  it("wakes agents whose containers went missing and reports containers it never placed", async () => {
    const { id, secret } = await registerNode();
    const link = env.NODE_LINK.getByName(id);
    const lost = `usr_${"lost".repeat(6)}`;
    const fine = `usr_${"fine".repeat(6)}`;
    const { SecretBox } = await import("@oc/contracts/crypto");
    for (const u of [lost, fine]) {
      const user = env.USER_AGENT.getByName(u);
      await user.init(u);
      await user.setPlacement(id);
      const spec = {
        userId: u,
        image: "openclaw-agent:test",
        host: "h.example.com",
        config: {},
        gatewayToken: "g".repeat(32),
        memoryMb: 2048,
        cpus: 2,
        pidsLimit: 512,
      };
      await user.setAgentSpec(await new SecretBox(env.ENCRYPTION_KEY).encrypt(JSON.stringify(spec), `spec:${u}`));
    }
    // Both were provisioned here (the node answered), then the node restarted and lost one container.
    const first = await agentSocket(id, secret);
    first.ws.send(JSON.stringify({ type: "hello", protocol: 1, agentVersion: "0.1.0", metrics }));
    await settle(id);
    for (const u of [lost, fine]) {
      await link.sendCommand(
        { kind: "provision", spec: { userId: u, image: "i", host: "h", config: {}, gatewayToken: "g".repeat(32), memoryMb: 2048, cpus: 2, pidsLimit: 512 } },
        `prov-${u}`,
      );
      first.ws.send(JSON.stringify({ type: "result", id: `prov-${u}`, ok: true, result: {} }));
    }
    await settle(id);
    expect((await env.USER_AGENT.getByName(lost).getSnapshot()).status).toBe("ready");
    first.ws.close(1000, "restart");

    const second = await agentSocket(id, secret);
    second.ws.send(
      JSON.stringify({
        type: "hello",
        protocol: 1,
        agentVersion: "0.1.1",
        metrics,
        containers: [
          { userId: fine, state: "running" },
          { userId: "usr_strangerstrangerstrang", state: "running" },
        ],
      }),
    );
    await settle(id);
    const wakes = second.frames.filter((f) => f.type === "command" && f.command.kind === "wake");
    expect(wakes.map((f) => f.command.spec.userId)).toEqual([lost]);
    expect((await env.USER_AGENT.getByName(lost).listActivity(5)).map((a) => a.message).join("\n")).toMatch(/recovering: its container was missing/);
    expect((await env.USER_AGENT.getByName(fine).getSnapshot()).status).toBe("ready");
    expect((await link.getStatus()).unknownContainers).toEqual([{ userId: "usr_strangerstrangerstrang", state: "running" }]);
    second.ws.close(1000, "done");
  });
});

describe("NodeLink results and the agent's status", () => {
  it("a failed file or schedule request does not mark the agent failed; a failed wake does", async () => {
    const { id, secret } = await registerNode();
    const userId = `usr_${"stat".repeat(6)}`;
    const user = env.USER_AGENT.getByName(userId);
    await user.init(userId);
    await user.setStatus("ready");
    const { ws } = await agentSocket(id, secret);
    ws.send(JSON.stringify({ type: "hello", protocol: 1, agentVersion: "0.1.0", metrics }));
    const link = env.NODE_LINK.getByName(id);
    await link.sendCommand({ kind: "files", userId, op: "read", path: "MEMORY.md" }, "files-1");
    await link.sendCommand({ kind: "cron", userId, op: "list" }, "cron-1");
    ws.send(JSON.stringify({ type: "result", id: "files-1", ok: false, error: "no such file: MEMORY.md" }));
    ws.send(JSON.stringify({ type: "result", id: "cron-1", ok: false, error: "the agent is asleep" }));
    await settle(id);
    expect((await user.getSnapshot()).status).toBe("ready");
    expect(await link.getCommandResult("files-1")).toMatchObject({ done: true, ok: false, error: "no such file: MEMORY.md" });
    await link.sendCommand(
      { kind: "wake", spec: { userId, image: "i", host: "h", config: {}, gatewayToken: "g".repeat(32), memoryMb: 2048, cpus: 2, pidsLimit: 512 } },
      "wake-1",
    );
    ws.send(JSON.stringify({ type: "result", id: "wake-1", ok: false, error: "image missing" }));
    await settle(id);
    expect((await user.getSnapshot()).status).toBe("failed");
    ws.close(1000, "done");
  });
});
