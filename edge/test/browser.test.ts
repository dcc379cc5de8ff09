import { env, exports } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { agents, browserSessions } from "@oc/db/schema";
import { loadEnv } from "../src/env";
import { buildServices } from "../src/services/build";
import { issueProxyKey } from "../src/services/proxy-keys";
import { TEST_PORTS, TEST_SECRETS } from "../../test-harness/ports";
import { chatBody, openai, proxyUser } from "./proxy-helpers";
import { call, withDb } from "./helpers";

/**
 * The agent's remote browser and the Browser Agent Viewer, against the Browserless stand-in (real Chromium
 * behind Browserless's Session API and CDP): the agent drives the browser through the edge's CDP relay with
 * its browser key (issued with its proxy key; it spends nothing), and its owner sees the same tabs, a
 * snapshot and a live view.
 */
const SEVEN_DAYS = 7 * 86_400_000; // BROWSER_SESSION_TTL_MS's default
const standIn = `http://127.0.0.1:${TEST_PORTS.browserless}`;
const sessionsAtBrowserless = async () =>
  (await fetch(`${standIn}/_sessions?token=${TEST_SECRETS.browserlessToken}`).then((r) => r.json())) as { id: string }[];

async function agentIdOf(userId: string) {
  return withDb(async (db) => (await db.select({ id: agents.id }).from(agents).where(eq(agents.userId, userId)))[0]!.id);
}

type Cdp = (method: string, params?: Record<string, unknown>, sessionId?: string) => Promise<{ result?: any; error?: { message: string } }>;
type Relay = { status: 101; send: Cdp; close: () => void } | { status: number; body: { error: { code: string; message: string } }; send?: never };

/**
 * The agent's keys as its config gets them (a proxy key and a browser key, issued together; the API that
 * rotates them hands out only the proxy key, so the test issues them as provisioning does).
 */
async function issueKeys(userId: string) {
  const { services, finish } = buildServices(loadEnv(env).env!, "test");
  try {
    return await issueProxyKey(services, userId, { ip: null, userAgent: null });
  } finally {
    await finish();
  }
}

const basic = (key: string) => `Basic ${btoa(`agent:${key}`)}`;

/**
 * Opens the relay like OpenClaw does (WebSocket; the key from its CDP URL's user:password sent as Basic auth)
 * and returns a tiny CDP client. `query` puts the key in the URL instead.
 */
async function relay(agentId: string, key: string, opts: { query?: boolean } = {}): Promise<Relay> {
  const res = await exports.default.fetch(`http://localhost/browser/devtools/browser/${agentId}${opts.query ? `?token=${encodeURIComponent(key)}` : ""}`, {
    headers: opts.query ? { Upgrade: "websocket" } : { Upgrade: "websocket", Authorization: basic(key) },
  });
  const ws = res.webSocket;
  if (!ws) return { status: res.status, body: await res.json<{ error: { code: string; message: string } }>() };
  ws.accept();
  let next = 0;
  const waiting = new Map<number, (m: { result?: any; error?: { message: string } }) => void>();
  ws.addEventListener("message", (e) => {
    const m = JSON.parse(String(e.data));
    waiting.get(m.id)?.(m);
  });
  const send: Cdp = (method, params = {}, sessionId) =>
    new Promise<{ result?: any; error?: { message: string } }>((resolve) => {
      const id = ++next;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params, sessionId }));
    });
  return { status: 101, send, close: () => ws.close() };
}

async function openRelay(agentId: string, key: string) {
  const r = await relay(agentId, key);
  if (!r.send) throw new Error(`relay refused: ${JSON.stringify(r)}`);
  return r;
}

describe("Browser Agent Viewer", () => {
  it("is off until the owner turns it on; then the agent browses through the relay and the owner watches", async () => {
    const u = await proxyUser(0);
    const agentId = await agentIdOf(u.userId);
    const { browserKey } = await issueKeys(u.userId);
    expect((await call("/api/agent/browser", { cookie: u.cookie })).body).toEqual({ offered: true, enabled: false, tabs: [] });
    const off = await call("/api/agent/browser/snapshot", { cookie: u.cookie });
    expect(off.status).toBe(409);
    expect(off.body.error).toMatchObject({ code: "CONFLICT", message: "Your agent's browser is off. Turn it on first." });
    expect((await relay(agentId, browserKey)).status).toBe(409);

    const before = (await sessionsAtBrowserless()).length;
    expect((await call("/api/agent/browser", { method: "PUT", body: { enabled: true }, cookie: u.cookie })).body).toEqual({
      enabled: true,
      appliedToAgent: false,
    });
    expect((await sessionsAtBrowserless()).length).toBe(before + 1);
    // The session URLs carry the operator's Browserless token: sealed at rest.
    const [row] = await withDb((db) => db.select().from(browserSessions).where(eq(browserSessions.agentId, agentId)));
    expect(row!.urlsEnc).not.toContain(TEST_SECRETS.browserlessToken);

    // The agent (as OpenClaw would) opens a tab through the relay.
    const agent = await openRelay(agentId, browserKey);
    const page = `data:text/html,<title>Flight search</title><h1 style="font-size:80px">Agent at work</h1>`;
    const created = await agent.send("Target.createTarget", { url: page });
    expect(created.result.targetId).toMatch(/^[A-F0-9]+$/);

    // The title arrives once the page has loaded.
    const viewer = () => call("/api/agent/browser", { cookie: u.cookie }).then((r) => r.body);
    await expect.poll(async () => (await viewer()).tabs).toContainEqual({ id: created.result.targetId, title: "Flight search", url: page });
    expect(await viewer()).toMatchObject({ offered: true, enabled: true, unreachable: false });

    const shot = await exports.default.fetch(
      new Request(`http://localhost/api/agent/browser/snapshot?tab=${created.result.targetId}`, {
        headers: { cookie: u.cookie!, "cf-connecting-ip": "10.9.9.9" },
      }),
    );
    expect(shot.status).toBe(200);
    expect(shot.headers.get("content-type")).toBe("image/jpeg");
    const jpeg = new Uint8Array(await shot.arrayBuffer());
    expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
    expect(jpeg.length).toBeGreaterThan(2000);

    const live = await call("/api/agent/browser/live", { body: { tab: created.result.targetId }, cookie: u.cookie });
    expect(live.status).toBe(200);
    expect(live.body.tab).toEqual({ id: created.result.targetId, title: "Flight search", url: page });
    expect(live.body.liveURL).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${TEST_PORTS.browserless}/live/`));
    const frame = await fetch(`${live.body.liveURL}/frame`);
    expect(frame.headers.get("content-type")).toBe("image/jpeg");
    agent.close();

    expect((await call("/api/agent/browser/live", { body: { tab: "ABCDEF0123456789" }, cookie: u.cookie })).status).toBe(404);
    expect((await call("/api/agent/browser/snapshot?tab=../etc", { cookie: u.cookie })).status).toBe(400);
  });

  it("the relay admits only the agent's current browser key, from a header, and only to its own browser", async () => {
    const a = await proxyUser(0);
    const b = await proxyUser(0);
    const agentA = await agentIdOf(a.userId);
    await call("/api/agent/browser", { method: "PUT", body: { enabled: true }, cookie: a.cookie });
    const keysA = await issueKeys(a.userId);
    const keysB = await issueKeys(b.userId);
    expect(await relay(agentA, "ocb_usr_aaaaaaaaaaaaaaaaaaaaaaaa_forgedforgedforgedforged")).toMatchObject({
      status: 401,
      body: { error: { code: "UNAUTHORIZED" } },
    });
    expect(await relay(agentA, keysB.browserKey)).toMatchObject({ status: 403, body: { error: { code: "FORBIDDEN" } } });
    // The spending key does not drive the browser, and no key is taken from the URL (access logs keep URLs).
    expect(await relay(agentA, keysA.key)).toMatchObject({ status: 401, body: { error: { code: "UNAUTHORIZED" } } });
    expect(await relay(agentA, keysA.browserKey, { query: true })).toMatchObject({
      status: 401,
      body: { error: { message: "Send the browser key in the Authorization header, never in the URL." } },
    });
    const plain = await call(`/browser/devtools/browser/${agentA}`, { headers: { authorization: basic(keysA.browserKey) } });
    expect(plain.status).toBe(400);
    const version = await call(`/browser/json/version`, { headers: { authorization: `Bearer ${keysA.browserKey}` } });
    expect(version.body.webSocketDebuggerUrl).toBe(`ws://localhost/browser/devtools/browser/${agentA}`);
    const ok = await openRelay(agentA, keysA.browserKey);
    expect((await ok.send("Browser.getVersion")).result.product).toMatch(/Chrome/);
    ok.close();

    // Replaced keys stop working at once, through the API's rotation too.
    const next = await issueKeys(a.userId);
    expect((await relay(agentA, keysA.browserKey)).status).toBe(401);
    const fresh = await openRelay(agentA, next.browserKey);
    expect((await fresh.send("Browser.getVersion")).result.product).toMatch(/Chrome/);
    fresh.close();
    expect((await call("/api/agent/proxy-key", { method: "POST", cookie: a.cookie })).status).toBe(201);
    expect((await relay(agentA, next.browserKey)).status).toBe(401);
  });

  it("the browser key has no spending rights: the /v1 proxy refuses it and takes the proxy key issued with it", async () => {
    const u = await proxyUser(1_000_000);
    const keys = await issueKeys(u.userId);
    await expect(openai(keys.browserKey).chat.completions.create(chatBody("spend with the browser key"))).rejects.toMatchObject({ status: 401 });
    const paid = await openai(keys.key).chat.completions.create(chatBody("spend with the proxy key"));
    expect(paid.choices[0]!.message.content).toBeTruthy();
  });

  it("replaces a session near its end, and turning the browser off ends it at Browserless", async () => {
    const u = await proxyUser(0);
    const agentId = await agentIdOf(u.userId);
    await call("/api/agent/browser", { method: "PUT", body: { enabled: true }, cookie: u.cookie });
    const [first] = await withDb((db) => db.select().from(browserSessions).where(eq(browserSessions.agentId, agentId)));
    await withDb((db) =>
      db
        .update(browserSessions)
        .set({ expiresAt: new Date(Date.now() + 60_000) })
        .where(eq(browserSessions.agentId, agentId)),
    );
    const status = (await call("/api/agent/browser", { cookie: u.cookie })).body;
    expect(status.unreachable).toBe(false);
    const [second] = await withDb((db) => db.select().from(browserSessions).where(eq(browserSessions.agentId, agentId)));
    expect(second!.sessionId).not.toBe(first!.sessionId);
    expect(second!.expiresAt.getTime()).toBeGreaterThan(Date.now() + SEVEN_DAYS - 60_000);
    const live = async () => (await sessionsAtBrowserless()).map((s) => s.id);
    await expect.poll(live).not.toContain(first!.sessionId);
    expect(await live()).toContain(second!.sessionId);

    expect((await call("/api/agent/browser", { method: "PUT", body: { enabled: false }, cookie: u.cookie })).body).toEqual({
      enabled: false,
      appliedToAgent: false,
    });
    await expect.poll(live).not.toContain(second!.sessionId);
    expect((await relay(agentId, (await issueKeys(u.userId)).browserKey)).status).toBe(409);
  });
});
