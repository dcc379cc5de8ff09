import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { nodes } from "../../edge/src/db/schema";
import { sha256Hex } from "../../edge/src/lib/crypto";
import { newId } from "../../edge/src/lib/ids";
import { call, withDb } from "../../edge/test/helpers";

const metrics = { ramTotalMb: 16000, ramUsedMb: 4000, cpuPercent: 12.5, diskTotalMb: 200000, diskUsedMb: 50000, containerCount: 3 };

async function registerNode() {
  const id = newId("node");
  const secret = crypto.randomUUID();
  await withDb((db) => db.insert(nodes).values({ id, name: id, status: "active", secretHash: "" }).then(async () =>
    db.update(nodes).set({ secretHash: await sha256Hex(secret) }),
  ));
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
      new Request(`http://localhost/api/nodes/${id}/connect`, { headers: { upgrade: "websocket", authorization: `Bearer ${secret}`, "cf-connecting-ip": "10.9.9.9" } }),
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
