import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { APP_ORIGIN, call, newIp, operator, paidSignup } from "./helpers";

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
