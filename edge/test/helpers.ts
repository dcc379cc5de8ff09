import { env, exports } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { openDb } from "@oc/db/client";
import { users } from "@oc/db/schema";
import { TEST_PORTS } from "../../test-harness/ports";

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
  /** `name=value` of the session cookie the response set, if any. */
  cookie?: string;
}

/** A fresh random client IP per call, so the auth rate limiter only trips where a test wants it to. */
export const newIp = () => `10.${[...crypto.getRandomValues(new Uint8Array(3))].join(".")}`;
export const newEmail = () => `u-${crypto.randomUUID().slice(0, 12)}@example.com`;

/** The app's own origin (APP_URL): what a browser on the dashboard sends as `Origin`. */
export const APP_ORIGIN = new URL(env.APP_URL).origin;

/**
 * One request to the Worker. With a cookie it behaves like the dashboard in a browser and sends the app's
 * `Origin`, unless the test sets its own Origin header or `origin: false` (a client that sends none).
 */
export async function call<T = any>(
  path: string,
  opts: { method?: string; body?: unknown; rawBody?: BodyInit; cookie?: string; headers?: Record<string, string>; ip?: string; origin?: false } = {},
): Promise<Reply<T>> {
  const headers = new Headers(opts.headers);
  headers.set("cf-connecting-ip", opts.ip ?? newIp());
  if (opts.cookie) headers.set("cookie", opts.cookie);
  if (opts.cookie && opts.origin !== false && !headers.has("origin")) headers.set("origin", APP_ORIGIN);
  if (opts.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json");
  const res = await exports.default.fetch(
    new Request(`http://localhost${path}`, {
      method: opts.method ?? (opts.body !== undefined || opts.rawBody !== undefined ? "POST" : "GET"),
      headers,
      body: opts.rawBody ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined),
      redirect: "manual",
    }),
  );
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  const set = res.headers.getSetCookie().find((c: string) => c.startsWith("oc_session="));
  return { status: res.status, body, headers: res.headers, cookie: set?.split(";")[0] };
}

export const PASSWORD = "a-long-enough-password";

/**
 * A new account, signed in. Signup answers the same for new and known addresses ("check your inbox") and
 * signs no one in, so the client signs in with the password next, as the dashboard's signup page does.
 */
export async function signup(email = newEmail(), password = PASSWORD, extra: { referralCode?: string } = {}) {
  const res = await call("/api/auth/signup", { body: { email, password, name: "Test User", ...extra } });
  if (res.status !== 202) throw new Error(`signup failed: ${res.status} ${JSON.stringify(res.body)}`);
  const login = await call<{ status: string; userId: string }>("/api/auth/login", { body: { email, password } });
  if (login.body.status !== "signed_in" || !login.cookie) throw new Error(`login after signup failed: ${login.status} ${JSON.stringify(login.body)}`);
  return { email, password, userId: login.body.userId, cookie: login.cookie };
}

/** Mails the Resend stand-in received for an address (sent through the real Resend SDK). */
export async function inbox(to: string): Promise<{ subject: string; text: string; html: string }[]> {
  const res = await fetch(`http://127.0.0.1:${TEST_PORTS.resend}/_inbox?to=${encodeURIComponent(to)}`);
  return res.json();
}

export async function linkToken(to: string, path: string): Promise<string> {
  const mails = await inbox(to);
  for (const m of mails.reverse()) {
    const match = m.text.match(new RegExp(`${path}\\?token=([\\w-]+)`));
    if (match) return match[1]!;
  }
  throw new Error(`no mail with ${path} for ${to}`);
}

/** Direct database access for assertions ("nothing was written"). */
export async function withDb<T>(fn: (db: ReturnType<typeof openDb>["db"]) => Promise<T>): Promise<T> {
  const { db, close } = openDb(env.DATABASE_URL as string, env.NEON_LOCAL_WSPROXY as string);
  try {
    return await fn(db);
  } finally {
    await close();
  }
}

/** Confirms the user's address the way the user does: the link from the mail (Resend stand-in), posted back. */
export async function verifyEmail(email: string) {
  const token = await linkToken(email, "/verify-email");
  const res = await call("/api/auth/verify-email", { body: { token } });
  if (res.status !== 200) throw new Error(`verify failed: ${res.status} ${JSON.stringify(res.body)}`);
}

/** A signed-up account whose address is confirmed (API keys and channels need that). */
export async function verifiedSignup(email = newEmail(), password = PASSWORD) {
  const u = await signup(email, password);
  await verifyEmail(u.email);
  return u;
}

let operatorCookie: Promise<string> | undefined;
/** An operator account (made admin in the database, as the first operator is), signed in once per test file. */
export function operator(): Promise<string> {
  operatorCookie ??= (async () => {
    const u = await signup();
    await withDb((db) => db.update(users).set({ role: "admin" }).where(eq(users.id, u.userId)));
    return u.cookie;
  })();
  return operatorCookie;
}

/** Paid access for tests that run agents without going through Checkout: an operator's grant, through its route. */
export async function grantAccess(userId: string) {
  const res = await call("/api/admin/grants", { body: { userId, note: "test" }, cookie: await operator() });
  if (res.status !== 200) throw new Error(`grant failed: ${res.status} ${JSON.stringify(res.body)}`);
}

/** A confirmed account with paid access: what most agent tests need. */
export async function paidSignup() {
  const u = await verifiedSignup();
  await grantAccess(u.userId);
  return u;
}
