import { eq } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { agents, browserSessions } from "@oc/db/schema";
import { connectCdp, type CdpClient } from "../lib/cdp";
import { audit } from "./audit";
import type { RequestMeta, Services } from "./context";
import { applyAgentConfig } from "./agent-config";
import { ensureAgent } from "./proxy-keys";

/**
 * The agent's remote browser (Browserless) and the owner's live view of it.
 *
 * One Browserless session (Session API, its own profile that keeps cookies and logins) per agent. The agent
 * reaches it through the edge's CDP relay (`/browser/devtools/browser/<agentId>`, authenticated with its
 * proxy key), so the operator's Browserless token never enters a container, and a session can be replaced
 * when it nears its end without touching the agent's config. The Browser Agent Viewer lists the tabs, shows a
 * snapshot, and opens Browserless's live view (the `Browserless.liveURL` CDP extension) of the agent's tab.
 */

/** A fresh session is started when the current one has less than this left (a day by default TTL). */
const RENEW_BEFORE_FRACTION = 1 / 7;
const LIVE_VIEW_MS = 10 * 60_000;

interface SessionUrls {
  connect: string;
  stop: string;
}

function browserless(s: Services) {
  const key = s.env.BROWSERLESS_API_KEY;
  if (!key) throw new AppError("FEATURE_UNAVAILABLE", "The agent browser is not offered on this server.");
  return { key, base: s.env.BROWSERLESS_API_BASE.replace(/\/$/, "") };
}

/** Browserless Session API: POST /session → { id, connect, stop, … }. */
async function createSession(s: Services): Promise<{ id: string; urls: SessionUrls; expiresAt: Date }> {
  const { key, base } = browserless(s);
  const ttl = s.env.BROWSER_SESSION_TTL_MS;
  const res = await fetch(`${base}/session?token=${encodeURIComponent(key)}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ttl, headless: true }),
  }).catch((e) => {
    throw new AppError("UPSTREAM_ERROR", "The browser service could not be reached. Please try again in a minute.", { cause: e });
  });
  const body = (await res.json().catch(() => ({}))) as { id?: string; connect?: string; browserWSEndpoint?: string; stop?: string; message?: string };
  const connect = body.connect ?? body.browserWSEndpoint;
  if (!res.ok || !body.id || !connect || !body.stop)
    throw new AppError("UPSTREAM_ERROR", `The browser service did not start a session (HTTP ${res.status}${body.message ? `: ${body.message}` : ""}).`);
  return { id: body.id, urls: { connect, stop: body.stop }, expiresAt: new Date(Date.now() + ttl) };
}

/** Ends a session at Browserless; best effort (an ended or expired one is already gone). */
async function stopSession(urls: SessionUrls) {
  const stop = new URL(urls.stop);
  stop.searchParams.set("force", "true");
  await fetch(stop, { method: "DELETE" }).catch(() => undefined);
}

async function stored(s: Services, agentId: string) {
  const [row] = await s.db.select().from(browserSessions).where(eq(browserSessions.agentId, agentId));
  if (!row) return undefined;
  return { ...row, urls: JSON.parse(await s.secrets.decrypt(row.urlsEnc, `browser:${agentId}`)) as SessionUrls };
}

async function save(s: Services, agentId: string, session: Awaited<ReturnType<typeof createSession>>) {
  const urlsEnc = await s.secrets.encrypt(JSON.stringify(session.urls), `browser:${agentId}`);
  const values = { sessionId: session.id, urlsEnc, expiresAt: session.expiresAt, updatedAt: new Date() };
  await s.db
    .insert(browserSessions)
    .values({ agentId, ...values })
    .onConflictDoUpdate({ target: browserSessions.agentId, set: values });
}

/**
 * The agent's live session, renewed when it is close to its end (the old one is stopped). Undefined when
 * the owner has not turned the browser on.
 */
export async function currentSession(s: Services, agentId: string): Promise<{ urls: SessionUrls; expiresAt: Date } | undefined> {
  const row = await stored(s, agentId);
  if (!row) return undefined;
  if (row.expiresAt.getTime() - Date.now() > s.env.BROWSER_SESSION_TTL_MS * RENEW_BEFORE_FRACTION) return row;
  const fresh = await createSession(s);
  await save(s, agentId, fresh);
  s.defer(stopSession(row.urls));
  return fresh;
}

/** Whether the agent's config should carry the browser (see specSettings). */
export async function browserEnabled(s: Services, agentId: string): Promise<boolean> {
  const [row] = await s.db.select({ id: browserSessions.agentId }).from(browserSessions).where(eq(browserSessions.agentId, agentId));
  return Boolean(row);
}

/** Turns the agent's browser on or off; a running agent restarts with the new config. */
export async function setBrowserEnabled(s: Services, userId: string, enabled: boolean, meta: RequestMeta) {
  const agentId = await ensureAgent(s, userId);
  const row = await stored(s, agentId);
  if (enabled && !row) await save(s, agentId, await createSession(s));
  if (!enabled && row) {
    await s.db.delete(browserSessions).where(eq(browserSessions.agentId, agentId));
    s.defer(stopSession(row.urls));
  }
  const changed = enabled !== Boolean(row);
  const [agent] = await s.db.select({ nodeId: agents.nodeId }).from(agents).where(eq(agents.id, agentId));
  const appliedToAgent = changed && agent?.nodeId ? await applyAgentConfig(s, userId, meta) : false;
  if (changed) audit(s, meta, userId, enabled ? "agent.browser_enabled" : "agent.browser_disabled");
  return { enabled, appliedToAgent };
}

type TargetInfo = { targetId: string; type: string; title: string; url: string; attached: boolean };

async function pages(cdp: CdpClient): Promise<TargetInfo[]> {
  const { targetInfos } = await cdp.send<{ targetInfos: TargetInfo[] }>("Target.getTargets");
  return targetInfos.filter((t) => t.type === "page");
}

/** The tab the owner most likely wants to see: the one with a real page, else any. */
function focus(tabs: TargetInfo[], targetId?: string): TargetInfo | undefined {
  if (targetId) return tabs.find((t) => t.targetId === targetId);
  return [...tabs].reverse().find((t) => t.url !== "about:blank") ?? tabs[0];
}

/** The owner's session (renewed if due), or a clear refusal when the browser is off. */
async function sessionOf(s: Services, userId: string) {
  const session = await currentSession(s, await ensureAgent(s, userId));
  if (!session) throw new AppError("CONFLICT", "Your agent's browser is off. Turn it on first.");
  return session.urls;
}

/** One short CDP connection to the session for `work`; the browser's own errors become UPSTREAM_ERROR. */
async function overCdp<T>(urls: SessionUrls, work: (cdp: CdpClient) => Promise<T>): Promise<T> {
  let cdp: CdpClient;
  try {
    cdp = await connectCdp(urls.connect);
  } catch (e) {
    throw new AppError("UPSTREAM_ERROR", "The browser service did not answer. Please try again in a minute.", { cause: e });
  }
  try {
    return await work(cdp);
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw new AppError("UPSTREAM_ERROR", `The browser did not answer: ${(e as Error).message}`, { cause: e });
  } finally {
    cdp.close();
  }
}

/** What the viewer page shows: whether the browser is offered and on, and the agent's open tabs. */
export async function browserStatus(s: Services, userId: string) {
  const offered = Boolean(s.env.BROWSERLESS_API_KEY);
  const session = offered ? await currentSession(s, await ensureAgent(s, userId)) : undefined;
  if (!session) return { offered, enabled: false, tabs: [] as { id: string; title: string; url: string }[] };
  const tabs = await overCdp(session.urls, pages).then(
    (list) => list.map((t) => ({ id: t.targetId, title: t.title, url: t.url })),
    () => null,
  );
  return { offered, enabled: true, sessionEndsAt: session.expiresAt.toISOString(), tabs: tabs ?? [], unreachable: tabs === null };
}

/** A JPEG of one tab (default: the agent's current one). */
export async function browserSnapshot(s: Services, userId: string, targetId?: string): Promise<Uint8Array> {
  return overCdp(await sessionOf(s, userId), async (cdp) => {
    const tab = focus(await pages(cdp), targetId);
    if (!tab) throw new AppError("NOT_FOUND", "Your agent has no open tab right now.");
    const { sessionId } = await cdp.send<{ sessionId: string }>("Target.attachToTarget", { targetId: tab.targetId, flatten: true });
    const { data } = await cdp.send<{ data: string }>("Page.captureScreenshot", { format: "jpeg", quality: 70 }, sessionId);
    return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  });
}

/** Browserless's live view of the agent's tab: a one-time URL that opens an interactive view in any browser. */
export async function browserLiveView(s: Services, userId: string, targetId?: string) {
  return overCdp(await sessionOf(s, userId), async (cdp) => {
    let tab = focus(await pages(cdp), targetId);
    if (!tab && targetId) throw new AppError("NOT_FOUND", "That tab is closed.");
    if (!tab) {
      const { targetId: created } = await cdp.send<{ targetId: string }>("Target.createTarget", { url: "about:blank" });
      tab = { targetId: created, type: "page", title: "about:blank", url: "about:blank", attached: false };
    }
    const { sessionId } = await cdp.send<{ sessionId: string }>("Target.attachToTarget", { targetId: tab.targetId, flatten: true });
    const r = await cdp.send<{ error: string | null; liveURL: string | null }>("Browserless.liveURL", { quality: 70, timeout: LIVE_VIEW_MS }, sessionId);
    if (r.error || !r.liveURL) throw new AppError("UPSTREAM_ERROR", `The browser service did not open a live view: ${r.error ?? "no URL"}.`);
    return { liveURL: r.liveURL, tab: { id: tab.targetId, title: tab.title, url: tab.url }, expiresAt: new Date(Date.now() + LIVE_VIEW_MS).toISOString() };
  });
}

/** The CDP relay's lookup: the agent's session WebSocket URL, or undefined when its browser is off. */
export async function relayTarget(s: Services, agentId: string): Promise<string | undefined> {
  if (!s.env.BROWSERLESS_API_KEY) return undefined;
  return (await currentSession(s, agentId))?.urls.connect;
}
