import pg from "pg";

/**
 * Accounts for the end-to-end suites, made over HTTP as the dashboard makes them: signup answers "check your
 * inbox" for any address and signs no one in, so the client signs in with the password next. Signed-in writes
 * carry the app's Origin, as a browser on the dashboard does (the edge refuses cookie writes without it).
 */
export async function signUpAndIn(base: string, email: string, password: string, ip = "127.0.0.1"): Promise<{ cookie: string; userId: string }> {
  const headers = { "content-type": "application/json", "cf-connecting-ip": ip };
  const signup = await fetch(`${base}/api/auth/signup`, { method: "POST", headers, body: JSON.stringify({ email, password }) });
  if (signup.status !== 202) throw new Error(`signup: ${signup.status} ${await signup.text()}`);
  const login = await fetch(`${base}/api/auth/login`, { method: "POST", headers, body: JSON.stringify({ email, password }) });
  const body = (await login.json()) as { status?: string; userId: string };
  if (body.status !== "signed_in") throw new Error(`login after signup: ${login.status} ${JSON.stringify(body)}`);
  return { cookie: login.headers.getSetCookie()[0]!.split(";")[0]!, userId: body.userId };
}

/**
 * The newest link to `path` (e.g. "/verify-email") mailed to `email`, read from the dev outbox as a developer
 * would (the outbox lists the newest mail first).
 */
export async function outboxLink(base: string, email: string, path: string): Promise<string> {
  const outbox = (await fetch(`${base}/api/dev/outbox`).then((r) => r.json())) as { emails: { to: string; text: string }[] };
  const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  for (const m of outbox.emails) {
    const link = m.to === email ? m.text.match(new RegExp(`https?://\\S+?${escaped}(?:\\?[\\w=&%-]*)?`))?.[0] : undefined;
    if (link) return link;
  }
  throw new Error(`no mail with ${path} for ${email} in the dev outbox`);
}

/** Confirms the address with the link from the dev outbox (API keys and channels need a confirmed address). */
export async function confirmEmail(base: string, email: string) {
  const token = new URL(await outboxLink(base, email, "/verify-email")).searchParams.get("token");
  const res = await fetch(`${base}/api/auth/verify-email`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token }),
  });
  if (res.status !== 200) throw new Error(`verify ${res.status}: ${await res.text()}`);
}

let operator: Promise<string> | undefined;
/** An operator's session, made once per file: an account made admin in the database, as the first operator is. */
export function operatorCookie(base: string): Promise<string> {
  operator ??= (async () => {
    const email = `e2e-operator-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
    const { cookie } = await signUpAndIn(base, email, "e2e-operator-password", `127.3.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`);
    const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    await db.query("UPDATE users SET role = 'admin' WHERE email = $1", [email]);
    await db.end();
    return cookie;
  })();
  return operator;
}

/** Paid access for tests that run agents without going through Checkout: an operator's grant, through its route. */
export async function grantAccess(base: string, userId: string) {
  const res = await fetch(`${base}/api/admin/grants`, {
    method: "POST",
    headers: { cookie: await operatorCookie(base), origin: base, "content-type": "application/json" },
    body: JSON.stringify({ userId, note: "e2e" }),
  });
  if (res.status !== 200) throw new Error(`grant ${res.status}: ${await res.text()}`);
}
