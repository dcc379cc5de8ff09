import { env, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { APP_ORIGIN, call, newIp, operator, paidSignup } from "./helpers";
import { TEST_PORTS } from "../../test-harness/ports";
import { loadEnv } from "../src/env";
import { buildServices } from "../src/services/build";
import { issueProxyKey } from "../src/services/proxy-keys";

/**
 * Walks every route of the published OpenAPI document (so a route added tomorrow is walked too):
 *   (a) an anonymous caller is refused with 401/403 and the JSON error envelope, unless the route is on the
 *       reviewed public list below;
 *   (b) user B's session, pointed at user A's object ids, is refused (401/403/404) or answers with B's own
 *       data only: none of A's identifying values (email, user id, key/session/template/channel ids) may
 *       appear in what B gets back, and A's objects are still there afterwards;
 *   positive control: A's own session gets 2xx from every GET route (the operator's from /admin, the node's
 *       own secret covers /nodes: see NODE_ONLY), so the walk reaches the handlers and the refusals above
 *       are the auth checks, not a wrong URL.
 */

/** Routes anyone may call, each with why. Adding a route here is a reviewed decision. */
const PUBLIC: Record<string, string> = {
  "get /api/health": "liveness probe (load balancer, uptime checks)",
  "get /api/billing/plans": "the pricing page lists plans to visitors",
  "post /api/auth/signup": "creating an account is how a visitor gets a session",
  "post /api/auth/login": "signing in is how a visitor gets a session",
  "post /api/auth/2fa/verify": "second sign-in step; authenticated by the pending-login challenge in the body",
  "post /api/auth/logout": "clears whatever session cookie it is given; harmless without one",
  "post /api/auth/verify-email": "opened from the mail link; authenticated by its one-time token",
  "post /api/auth/password/forgot": "a visitor who forgot the password has no session; answers the same for every address",
  "post /api/auth/password/reset": "authenticated by the one-time reset token from the mail",
  "get /api/auth/google": "starts Google sign-in (redirect with state + PKCE)",
  "get /api/auth/google/callback": "Google's redirect back; authenticated by the state cookie and PKCE verifier",
  "post /api/webhooks/stripe": "Stripe's deliveries; authenticated by the Stripe-Signature HMAC",
  "post /api/nodes/register": "a new worker VPS registers with its one-time registration token (not a session)",
  "get /api/dev/outbox": "DEV_MODE=local only (the development mail outbox); production refuses to start with DEV_MODE",
};

/**
 * Routes a worker node calls with its own secret, never a user's session: for users they must refuse (401/403)
 * like for anyone; their positive control is the node's own credential (archives.test.ts, node-link tests).
 */
const NODE_ONLY = new Set([
  "get /api/nodes/{id}/connect",
  "post /api/nodes/{id}/archives/{userId}/upload",
  "post /api/nodes/{id}/archives/{userId}/complete",
  "get /api/nodes/{id}/archives/{userId}/latest",
]);

/**
 * GET routes whose handler A reaches but which cannot answer 2xx in this suite, each with the reason and the
 * status it answers instead (still never 401/403: A is authenticated, the handler itself answered).
 */
const A_GET_NOT_2XX: Record<string, { status: number; why: string }> = {
  "get /api/agent/files": { status: 404, why: "lists the workspace on the agent's node; there is no node in this suite (e2e/journey.test.ts covers it)" },
  "get /api/agent/files/content": { status: 404, why: "reads a file on the agent's node; no node here (e2e/journey.test.ts)" },
  "get /api/agent/cron": { status: 404, why: "reads OpenClaw's schedule on the agent's node; no node here (e2e/journey.test.ts)" },
  "get /api/agent/browser/snapshot": { status: 409, why: "needs the agent's browser turned on (a Browserless session); browser.test.ts covers it" },
};

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  $ref?: string;
  format?: string;
  pattern?: string;
  minimum?: number;
  minLength?: number;
  minItems?: number;
  default?: unknown;
};
type Op = { method: string; template: string; params: { name: string; in: string; required?: boolean; schema?: Schema }[]; body?: Schema };

/** Values for fields whose format a generic sample cannot guess (patterns). */
const SAMPLES: Record<string, unknown> = {
  sha256: "0".repeat(64),
  code: "123456",
  month: new Date().toISOString().slice(0, 7),
  token: "ocn_x",
  userId: "usr_aaaaaaaaaaaaaaaaaaaaaaaa",
  path: "MEMORY.md",
  email: "someone@example.com",
};

/**
 * A well-formed value for a JSON schema (required fields only), so a refusal is the auth check's and not the
 * validator's: a route that validated before it authenticated would otherwise pass for the wrong reason.
 */
function sample(schema: Schema | undefined, components: Record<string, Schema>, name = ""): unknown {
  if (!schema) return undefined;
  if (name in SAMPLES) return SAMPLES[name];
  if (schema.$ref) return sample(components[schema.$ref.split("/").pop()!], components, name);
  if (schema.default !== undefined) return schema.default;
  if (schema.enum) return schema.enum[0];
  const alt = schema.anyOf ?? schema.oneOf ?? schema.allOf;
  if (alt) return sample(alt.find((x) => x.type !== "null") ?? alt[0], components, name);
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (type === "object" || schema.properties) return Object.fromEntries((schema.required ?? []).map((k) => [k, sample(schema.properties?.[k], components, k)]));
  if (type === "array") return schema.minItems ? [sample(schema.items, components)] : [];
  if (type === "integer" || type === "number") return Math.max(schema.minimum ?? 1, 1);
  if (type === "boolean") return false;
  if (schema.format === "email") return SAMPLES.email;
  if (schema.pattern?.startsWith("^\\d")) return "1".repeat(Number(schema.pattern.match(/\{(\d+)/)?.[1] ?? 6));
  return "x".repeat(Math.max(schema.minLength ?? 1, 3));
}

type Hit = { status: number; body: any };
const isAuthRefusal = (r: Hit) =>
  (r.status === 401 || r.status === 403) && typeof r.body?.error?.code === "string" && typeof r.body.error.requestId === "string";

let components: Record<string, Schema> = {};
async function operations(): Promise<Op[]> {
  const doc = await call("/api/openapi.json");
  expect(doc.status).toBe(200);
  components = doc.body.components?.schemas ?? {};
  const ops: Op[] = [];
  type DocOp = { parameters?: Op["params"]; requestBody?: { content?: Record<string, { schema?: Schema }> } };
  for (const [template, item] of Object.entries(doc.body.paths as Record<string, Record<string, DocOp>>))
    for (const [method, op] of Object.entries(item))
      if (["get", "post", "put", "patch", "delete"].includes(method))
        ops.push({ method, template, params: op.parameters ?? [], body: op.requestBody?.content?.["application/json"]?.schema });
  return ops;
}

/** A's objects that the walk points B at, and the values that identify A in any body. */
async function tenantA() {
  const a = await paidSignup();
  const keyName = `a-key-${crypto.randomUUID()}`;
  const key = await call("/api/account/api-keys", { body: { name: keyName }, cookie: a.cookie });
  expect(key.status).toBe(201);
  const sessions = await call("/api/account/sessions", { cookie: a.cookie });
  const ids = { keyId: key.body.id as string, sessionId: sessions.body.sessions[0].id as string };
  return { ...a, ids, secrets: [a.email, a.userId, ids.keyId, ids.sessionId, keyName] };
}

type A = Awaited<ReturnType<typeof tenantA>>;

/** The concrete URL of an operation: path params are A's ids where the route names one, query params samples. */
function urlFor(op: Op, a: A): string {
  const byRoute = (name: string) => {
    if (op.template.startsWith("/api/account/api-keys/")) return a.ids.keyId;
    if (op.template.startsWith("/api/account/sessions/")) return a.ids.sessionId;
    if (name === "userId") return a.userId;
    if (name === "kind") return "telegram";
    return `x_${crypto.randomUUID().slice(0, 8)}`;
  };
  let path = op.template.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(byRoute(name)));
  const query = op.params
    .filter((p) => p.in === "query" && p.required)
    .map((p) => `${p.name}=${encodeURIComponent(String(sample(p.schema, components, p.name)))}`);
  if (query.length) path += `?${query.join("&")}`;
  return path;
}

/**
 * One call as the dashboard makes it (a session cookie comes with the app's Origin). A stream (server-sent
 * events) is read for its first chunk only: enough to see whose data it carries, without waiting for its end.
 */
async function request(op: Op, url: string, cookie?: string): Promise<Hit> {
  const headers = new Headers({ "cf-connecting-ip": newIp() });
  if (cookie) (headers.set("cookie", cookie), headers.set("origin", APP_ORIGIN));
  const write = op.method !== "get" && op.method !== "delete";
  if (write) headers.set("content-type", "application/json");
  const payload = write ? JSON.stringify(sample(op.body, components) ?? {}) : undefined;
  const res = await exports.default.fetch(
    new Request(`http://localhost${url}`, { method: op.method.toUpperCase(), headers, body: payload, redirect: "manual" }),
  );
  let text: string;
  if (res.headers.get("content-type")?.includes("text/event-stream")) {
    const reader = res.body!.getReader();
    const first = await Promise.race([reader.read(), new Promise<undefined>((r) => setTimeout(r, 300))]);
    await reader.cancel();
    text = first?.value ? new TextDecoder().decode(first.value) : "";
  } else text = new TextDecoder().decode(await res.arrayBuffer()); // any type: a zip export is searched too
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body };
}

/** Runs `fn` over `items`, a few at a time (the walk makes ~250 calls; one by one would take minutes). */
async function each<T>(items: T[], fn: (item: T) => Promise<void>, width = 6) {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

describe("every route in /api/openapi.json", () => {
  it("refuses anonymous and cross-tenant callers; the owner's own GETs reach the handlers", { timeout: 180_000 }, async () => {
    const ops = await operations();
    const [a, b] = [await tenantA(), await paidSignup()];
    const key = (op: Op) => `${op.method} ${op.template}`;
    const failures: string[] = [];

    // (a) anonymous
    let anonymous = 0;
    await each(
      ops.filter((op) => !PUBLIC[key(op)]),
      async (op) => {
        const r = await request(op, urlFor(op, a));
        anonymous++;
        if (!isAuthRefusal(r)) failures.push(`anonymous ${key(op)} → ${r.status} ${JSON.stringify(r.body)?.slice(0, 160)}`);
      },
    );

    // (b) B's session at A's ids: every GET (B's own data only), and every write that names an object.
    let crossTenant = 0;
    await each(
      ops.filter((op) => !PUBLIC[key(op)] && (op.method === "get" || op.template.includes("{"))),
      async (op) => {
        const r = await request(op, urlFor(op, a), b.cookie);
        crossTenant++;
        const text = typeof r.body === "string" ? r.body : JSON.stringify(r.body ?? "");
        const leaked = a.secrets.filter((s) => text.includes(s));
        if (leaked.length) failures.push(`B at A's ${key(op)} → ${r.status} shows A's ${leaked.join(", ")}`);
        if (op.method !== "get" && r.status >= 200 && r.status < 300) failures.push(`B at A's ${key(op)} → ${r.status}: a write on A's object was accepted`);
      },
    );

    // Positive control: A's own GETs (the operator's for /admin) reach the handlers and answer 2xx.
    const admin = await operator();
    let controls = 0;
    await each(
      ops.filter((op) => op.method === "get" && !PUBLIC[key(op)] && !NODE_ONLY.has(key(op))),
      async (op) => {
        const r = await request(op, urlFor(op, a), op.template.startsWith("/api/admin/") ? admin : a.cookie);
        controls++;
        const expected = A_GET_NOT_2XX[key(op)];
        if (expected ? r.status !== expected.status : r.status < 200 || r.status >= 300)
          failures.push(
            `owner ${key(op)} → ${r.status} ${JSON.stringify(r.body)?.slice(0, 160)}${expected ? ` (expected ${expected.status}: ${expected.why})` : ""}`,
          );
      },
    );
    // A's objects survived B's writes.
    const keys = await call("/api/account/api-keys", { cookie: a.cookie });
    expect(keys.body.keys.map((k: { id: string }) => k.id)).toContain(a.ids.keyId);

    console.log(
      `[openapi-auth] ${ops.length} routes in the document: anonymous: ${anonymous} walked, ${ops.length - anonymous} public (reviewed list); cross-tenant: ${crossTenant} walked; owner GETs: ${controls} walked`,
    );
    expect(failures).toEqual([]);
    expect(
      Object.keys(PUBLIC).every((k) => ops.some((op) => key(op) === k)),
      "every public entry names a real route",
    ).toBe(true);
  });
});

/**
 * The surfaces outside the OpenAPI document, each walked the same way: /hooks/* (chat platforms, each with its
 * own signature scheme), /v1/* (the metering proxy, authenticated by the agent's proxy key) and /browser/*
 * (the CDP relay, by the agent's browser key). For each route: no credential is refused, another tenant's
 * credential pointed at A is refused, and A's own (A's properly signed delivery, A's key) gets through.
 */
const hex = (b: ArrayBuffer | Uint8Array) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
async function hmac(secret: string, data: string) {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return hex(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(data)));
}
const now = () => Math.floor(Date.now() / 1000);
/** A refusal in the API's envelope (a signature the platform sent wrong is 400 INVALID_SIGNATURE, a bad token 401/403). */
const isRefusal = (r: { status: number; body: any }) => [400, 401, 403].includes(r.status) && typeof r.body?.error?.code === "string";

/** The agent's proxy and browser keys as provisioning issues them (the API hands out only the proxy key). */
async function agentKeys(userId: string) {
  const { services, finish } = buildServices(loadEnv(env).env!, "test");
  try {
    return await issueProxyKey(services, userId, { ip: null, userAgent: null });
  } finally {
    await finish();
  }
}

/** A tenant with every webhook channel connected; the secrets its platforms sign with. */
async function channelTenant(tag: "a" | "b") {
  const u = await paidSignup(); // channels need a confirmed address
  const agentId = (await call("/api/agent/proxy-key", { method: "POST", cookie: u.cookie })).body.agentId as string;
  await call("/api/channels/telegram", { body: { botToken: `${tag === "a" ? 1111111 : 2222222}:AAAAAAAAAAAAAAAAAAAAAAAAAAAA` }, cookie: u.cookie });
  const received = (await fetch(`http://127.0.0.1:${TEST_PORTS.chat}/_received`).then((r) => r.json())) as { path: string; body: any }[];
  const telegramSecret = received.filter((r) => r.path.endsWith("/setWebhook") && r.body.url.endsWith(agentId)).at(-1)!.body.secret_token as string;
  const slackSecret = `slack-signing-secret-${tag}-0123456`;
  await call("/api/channels/slack", { body: { botToken: "xoxb-good-token", signingSecret: slackSecret }, cookie: u.cookie });
  const appSecret = `whatsapp-app-secret-${tag}-0123456`;
  const wa = await call("/api/channels/whatsapp", { body: { accessToken: "EAAG-good-token", phoneNumberId: "1234567890", appSecret }, cookie: u.cookie });
  const discordKeys = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  await call("/api/channels/discord", {
    body: { applicationId: "112233445566", publicKey: hex((await crypto.subtle.exportKey("raw", discordKeys.publicKey)) as ArrayBuffer) },
    cookie: u.cookie,
  });
  return { ...u, agentId, telegramSecret, slackSecret, appSecret, verifyToken: wa.body.verifyToken as string, discordKey: discordKeys.privateKey };
}
type ChannelTenant = Awaited<ReturnType<typeof channelTenant>>;

/** Each /hooks route as a platform calls it, signed with `signer`'s credentials (none: unsigned) and sent to A's agent. */
const HOOKS: Record<string, (agentId: string, signer?: ChannelTenant) => Promise<{ status: number; body: any }>> = {
  "post /hooks/telegram/:agentId": async (agentId, signer) =>
    call(`/hooks/telegram/${agentId}`, {
      rawBody: JSON.stringify({
        update_id: Math.floor(Math.random() * 1e9),
        message: { message_id: 1, date: now(), chat: { id: 42, type: "private" }, text: "hi" },
      }),
      headers: { "content-type": "application/json", ...(signer && { "x-telegram-bot-api-secret-token": signer.telegramSecret }) },
    }),
  "post /hooks/slack/:agentId": async (agentId, signer) => {
    const ts = now();
    const body = JSON.stringify({ type: "event_callback", event_id: `Ev${crypto.randomUUID()}`, event: { type: "message", channel: "C1", text: "hi" } });
    const headers: Record<string, string> = { "content-type": "application/json", "x-slack-request-timestamp": String(ts) };
    if (signer) headers["x-slack-signature"] = `v0=${await hmac(signer.slackSecret, `v0:${ts}:${body}`)}`;
    return call(`/hooks/slack/${agentId}`, { rawBody: body, headers });
  },
  "get /hooks/whatsapp/:agentId": async (agentId, signer) =>
    call(`/hooks/whatsapp/${agentId}?hub.mode=subscribe&hub.challenge=challenge-42&hub.verify_token=${encodeURIComponent(signer?.verifyToken ?? "")}`),
  "post /hooks/whatsapp/:agentId": async (agentId, signer) => {
    const message = { id: `wamid.${crypto.randomUUID()}`, timestamp: String(now()), from: "15550002222", type: "text", text: { body: "hi" } };
    const body = JSON.stringify({ entry: [{ changes: [{ value: { messages: [message] } }] }] });
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (signer) headers["x-hub-signature-256"] = `sha256=${await hmac(signer.appSecret, body)}`;
    return call(`/hooks/whatsapp/${agentId}`, { rawBody: body, headers });
  },
  "post /hooks/discord/:agentId": async (agentId, signer) => {
    const ts = String(now());
    const id = String(2_300_000_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e9)));
    const body = JSON.stringify({ id, type: 2, token: `tok-${id}`, channel_id: "7", data: { name: "ask", options: [{ name: "q", value: "hi" }] } });
    const headers: Record<string, string> = { "content-type": "application/json", "x-signature-timestamp": ts };
    if (signer) headers["x-signature-ed25519"] = hex(await crypto.subtle.sign("Ed25519", signer.discordKey, new TextEncoder().encode(ts + body)));
    return call(`/hooks/discord/${agentId}`, { rawBody: body, headers });
  },
};
/** What A's own, properly signed call is answered with: the delivery taken in (or the subscription confirmed). */
const HOOK_ACCEPTED: Record<string, unknown> = {
  "post /hooks/telegram/:agentId": { ok: true, accepted: true },
  "post /hooks/slack/:agentId": { accepted: true },
  "get /hooks/whatsapp/:agentId": "challenge-42",
  "post /hooks/whatsapp/:agentId": { accepted: 1 },
  "post /hooks/discord/:agentId": { type: 5 },
};

const inboxRows = (userId: string) =>
  runInDurableObject(env.USER_AGENT.getByName(userId), (_o, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM inbox").one().n);

/**
 * Every model endpoint under /v1 with the smallest body it answers 200 to (`own`: another status A's own key
 * gets, and why it still proves the key check passed).
 */
const V1: Record<string, { body: unknown; anthropic?: boolean }> = {
  "/v1/chat/completions": { body: { model: "gpt-4.1-nano", messages: [{ role: "user", content: "hi" }], max_tokens: 20 } },
  "/v1/responses": { body: { model: "gpt-4.1-nano", input: "hi", max_output_tokens: 20 } },
  "/v1/embeddings": { body: { model: "text-embedding-3-small", input: "hi" } },
  "/v1/messages": { body: { model: "claude-haiku-4-5", max_tokens: 20, messages: [{ role: "user", content: "hi" }] }, anthropic: true },
  "/v1/messages/count_tokens": { body: { model: "claude-haiku-4-5", messages: [{ role: "user", content: "hi" }] }, anthropic: true },
  "/v1/responses/input_tokens": { body: { model: "gpt-4.1-nano", input: "hi" } },
};
/** /v1 routes anyone may call: the model list (ids and the API's own shapes, nothing of a tenant's). */
const V1_PUBLIC = ["get /v1/models", "get /v1/models/:id"];

async function v1(path: string, key?: string) {
  const { body, anthropic } = V1[path]!;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (anthropic) headers["anthropic-version"] = "2023-06-01";
  if (key) headers[anthropic ? "x-api-key" : "authorization"] = anthropic ? key : `Bearer ${key}`;
  const res = await exports.default.fetch(new Request(`http://localhost${path}`, { method: "POST", headers, body: JSON.stringify(body) }));
  return { status: res.status, text: await res.text() };
}

describe("every route outside /api/openapi.json", () => {
  it(
    "/hooks/*: an unsigned delivery and one signed with another tenant's secrets are refused; A's own signed one is taken in",
    { timeout: 60_000 },
    async () => {
      const [a, b] = [await channelTenant("a"), await channelTenant("b")];
      const failures: string[] = [];
      const before = await inboxRows(a.userId);
      for (const [route, send] of Object.entries(HOOKS)) {
        for (const [who, signer] of [
          ["unsigned", undefined],
          ["signed by B", b],
        ] as const) {
          const r = await send(a.agentId, signer);
          if (!isRefusal(r)) failures.push(`${who} ${route} → ${r.status} ${JSON.stringify(r.body)}`);
        }
        // Positive control: the same call signed with A's own secrets gets through.
        const own = await send(a.agentId, a);
        if (own.status !== 200 || JSON.stringify(own.body) !== JSON.stringify(HOOK_ACCEPTED[route]))
          failures.push(`A's own ${route} → ${own.status} ${JSON.stringify(own.body)}`);
      }
      expect(failures).toEqual([]);
      // Only A's own four deliveries reached A's inbox (the WhatsApp subscription check delivers nothing).
      expect((await inboxRows(a.userId)) - before).toBe(4);
    },
  );

  it("/v1/*: no key and a key naming A with another tenant's secret are refused; A's own key gets through", { timeout: 60_000 }, async () => {
    const [a, b] = [await paidSignup(), await paidSignup()];
    const [keyA, keysB] = [(await agentKeys(a.userId)).key, await agentKeys(b.userId)];
    await env.USER_AGENT.getByName(a.userId).credit(1_000_000, "test", crypto.randomUUID());
    const forged = keysB.key.replace(b.userId, a.userId); // A's user id, B's secret
    const failures: string[] = [];
    for (const path of Object.keys(V1)) {
      for (const [who, key] of [
        ["no key", undefined],
        ["A's id with B's secret", forged],
        ["B's browser key", keysB.browserKey],
      ] as const) {
        const r = await v1(path, key);
        if (r.status !== 401) failures.push(`${who} ${path} → ${r.status} ${r.text.slice(0, 160)}`);
      }
      const own = await v1(path, keyA);
      if (own.status !== 200) failures.push(`A's own ${path} → ${own.status} ${own.text.slice(0, 160)}`);
    }
    for (const route of V1_PUBLIC) {
      const res = await exports.default.fetch(`http://localhost${route.slice(4).replace(":id", "gpt-4.1-nano")}`);
      if (res.status !== 200) failures.push(`public ${route} → ${res.status}`);
    }
    expect(failures).toEqual([]);
  });

  it("/browser/*: no key and another tenant's browser key are refused; A's own key reaches A's browser", async () => {
    const [a, b] = [await paidSignup(), await paidSignup()];
    const agentA = (await call("/api/agent/proxy-key", { method: "POST", cookie: a.cookie })).body.agentId as string;
    const [keysA, keysB] = [await agentKeys(a.userId), await agentKeys(b.userId)];
    const basic = (key: string) => ({ authorization: `Basic ${btoa(`agent:${key}`)}` });
    const relay = async (path: string, headers: Record<string, string> = {}) => {
      const res = await exports.default.fetch(`http://localhost${path}`, { headers: { upgrade: "websocket", ...headers } });
      return { status: res.status, body: res.webSocket ? "websocket" : await res.json<any>() };
    };
    const routes = ["/browser/json/version", `/browser/devtools/browser/${agentA}`];
    const failures: string[] = [];
    for (const path of routes)
      for (const [who, headers] of [
        ["no key", {}],
        ["B's browser key", basic(keysB.browserKey)],
        ["A's proxy key", basic(keysA.key)],
      ] as const) {
        const r = await relay(path, headers);
        // B's key on /json/version is B's own discovery document, naming B's agent only.
        if (who === "B's browser key" && path === "/browser/json/version") {
          if (r.status !== 200 || JSON.stringify(r.body).includes(agentA)) failures.push(`${who} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
        } else if (!isRefusal(r)) failures.push(`${who} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
      }
    // Positive control: A's browser key passes the check (the browser itself is off, which only its owner changes).
    const version = await relay("/browser/json/version", basic(keysA.browserKey));
    if (version.status !== 200 || !JSON.stringify(version.body).includes(agentA)) failures.push(`A's own /json/version → ${version.status}`);
    const devtools = await relay(`/browser/devtools/browser/${agentA}`, basic(keysA.browserKey));
    if (devtools.status !== 409 || devtools.body.error.code !== "CONFLICT")
      failures.push(`A's own devtools → ${devtools.status} ${JSON.stringify(devtools.body)}`);
    expect(failures).toEqual([]);
  });
});
