import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { agentFrame, parseFrame, type AgentFrame, type EdgeFrame } from "@oc/contracts/wire";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeAgent } from "../src/edge-link";
import { AgentRuntime } from "../src/agent-lifecycle";
import { FakeDocker } from "./fake-docker";
import { waitUntil } from "../../test-harness/poll";

const { WebSocketServer } = createRequire(import.meta.url)("ws") as typeof import("ws");

/** A loopback stand-in for the edge side of the protocol, checking every frame with the shared schema. */
async function fakeEdge(opts: { secret: string; heartbeatMs: number }) {
  const frames: AgentFrame[] = [];
  const sockets: import("ws").WebSocket[] = [];
  let rejected = 0;
  const wss = new WebSocketServer({
    port: 0,
    host: "127.0.0.1",
    verifyClient: (info: { req: import("http").IncomingMessage }) => {
      const ok = info.req.headers.authorization === `Bearer ${opts.secret}` && info.req.url === "/api/nodes/node_1/connect";
      if (!ok) rejected++;
      return ok;
    },
  });
  await new Promise((r) => wss.once("listening", r));
  wss.on("connection", (ws) => {
    sockets.push(ws);
    ws.on("message", (d) => {
      const f = parseFrame(agentFrame, d.toString());
      if (!f) throw new Error(`agent sent an invalid frame: ${d}`);
      frames.push(f);
    });
    ws.send(JSON.stringify({ type: "welcome", nodeId: "node_1", heartbeatMs: opts.heartbeatMs } satisfies EdgeFrame));
  });
  const url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const send = (f: EdgeFrame) => sockets.at(-1)!.send(JSON.stringify(f));
  return { wss, url, frames, sockets, send, rejected: () => rejected };
}

/** Frames and connections change on socket events: checked often, so a test waits only as long as they take. */
const until = (cond: () => boolean) => waitUntil(cond, { timeoutMs: 5000, intervalMs: 10 });

let cleanup: (() => void)[] = [];
afterEach(() => {
  cleanup.forEach((f) => f());
  cleanup = [];
});

describe("node agent connection", () => {
  it("says hello with real metrics, then heartbeats at the edge's interval", async () => {
    const edge = await fakeEdge({ secret: "s".repeat(32), heartbeatMs: 50 });
    const agent = new NodeAgent({ edgeUrl: edge.url, nodeId: "node_1", secret: "s".repeat(32), log: () => {} });
    cleanup.push(
      () => agent.stop(),
      () => edge.wss.close(),
    );
    agent.start();
    await until(() => edge.frames.filter((f) => f.type === "heartbeat").length >= 2);
    const hello = edge.frames[0]!;
    expect(hello.type).toBe("hello");
    if (hello.type !== "hello") return;
    expect(hello.metrics.ramTotalMb).toBeGreaterThan(100);
    expect(hello.metrics.diskTotalMb).toBeGreaterThan(hello.metrics.diskUsedMb);
  });

  it("executes a command once per id, answering a repeat from memory", async () => {
    const edge = await fakeEdge({ secret: "s".repeat(32), heartbeatMs: 10_000 });
    const agent = new NodeAgent({ edgeUrl: edge.url, nodeId: "node_1", secret: "s".repeat(32), log: () => {} });
    cleanup.push(
      () => agent.stop(),
      () => edge.wss.close(),
    );
    agent.start();
    await until(() => edge.frames.length >= 1);
    edge.send({ type: "command", id: "c1", command: { kind: "ping" } });
    edge.send({ type: "command", id: "c1", command: { kind: "ping" } });
    await until(() => edge.frames.filter((f) => f.type === "result").length === 2);
    const [a, b] = edge.frames.filter((f) => f.type === "result");
    expect(a).toEqual(b); // same answer, same timestamp: executed once
    expect(a).toMatchObject({ id: "c1", ok: true, result: { pong: true } });
  });

  it("reconnects with backoff after the edge drops it, and stops cleanly", async () => {
    const edge = await fakeEdge({ secret: "s".repeat(32), heartbeatMs: 10_000 });
    const agent = new NodeAgent({ edgeUrl: edge.url, nodeId: "node_1", secret: "s".repeat(32), minBackoffMs: 20, maxBackoffMs: 100, log: () => {} });
    cleanup.push(
      () => agent.stop(),
      () => edge.wss.close(),
    );
    agent.start();
    await until(() => agent.connected);
    // The first hello is sent once metrics are read: a drop before it arrives would lose it, not test a reconnect.
    await until(() => edge.frames.some((f) => f.type === "hello"));
    edge.sockets[0]!.terminate();
    await until(() => agent.connections.length === 2 && agent.connected);
    // The hello follows the open once metrics are read (async), so wait for it rather than race it.
    await until(() => edge.frames.filter((f) => f.type === "hello").length === 2);
    expect(edge.sockets).toHaveLength(2);
    agent.stop();
    await new Promise((r) => setTimeout(r, 200));
    expect(agent.connections).toHaveLength(2);
  });

  it("keeps retrying, without crashing, while the edge refuses its secret", async () => {
    const edge = await fakeEdge({ secret: "right-secret-right-secret", heartbeatMs: 10_000 });
    const logs: string[] = [];
    const agent = new NodeAgent({
      edgeUrl: edge.url,
      nodeId: "node_1",
      secret: "wrong-secret-wrong-secret",
      minBackoffMs: 10,
      maxBackoffMs: 40,
      log: (m) => logs.push(m),
    });
    cleanup.push(
      () => agent.stop(),
      () => edge.wss.close(),
    );
    agent.start();
    await until(() => edge.rejected() >= 3);
    expect(agent.connected).toBe(false);
    expect(logs.some((l) => l.includes("HTTP 401"))).toBe(true);
  });

  it("answers a provision whose container dies while starting with a failed result, after its progress", async () => {
    const edge = await fakeEdge({ secret: "s".repeat(32), heartbeatMs: 10_000 });
    const docker = new FakeDocker({ images: ["img:1"], onStart: (c) => void (c.state = "exited") });
    const store = { archive: async () => ({ key: "k", bytes: 0 }), latest: async () => undefined, restore: async () => {}, deleteAll: async () => 0 };
    const runtime = new AgentRuntime(docker, store, { stateRoot: mkdtempSync(join(tmpdir(), "oc-fake-states-")), readyTimeoutMs: 2_000 });
    const agent = new NodeAgent({ edgeUrl: edge.url, nodeId: "node_1", secret: "s".repeat(32), docker, runtime, log: () => {} });
    cleanup.push(
      () => agent.stop(),
      () => edge.wss.close(),
    );
    agent.start();
    await until(() => edge.frames.length >= 1);
    const spec = {
      userId: `usr_${"a".repeat(24)}`,
      image: "img:1",
      host: "x.agents.example.com",
      config: {},
      gatewayToken: "t".repeat(32),
      memoryMb: 256,
      cpus: 0.5,
      pidsLimit: 64,
    };
    edge.send({ type: "command", id: "p1", command: { kind: "provision", spec } });
    await until(() => edge.frames.some((f) => f.type === "result"));
    expect(edge.frames.filter((f) => f.type === "progress").map((f) => f.type === "progress" && f.step)).toEqual(["creating", "starting"]);
    expect(edge.frames.find((f) => f.type === "result")).toEqual({
      type: "result",
      id: "p1",
      ok: false,
      error: "the agent container stopped while starting (exited)",
    });
  });
});
