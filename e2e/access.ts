import pg from "pg";
import { signUpAndIn } from "./account";

/**
 * Paid access for end-to-end tests that run agents without going through Checkout: an operator grants it
 * through the admin route (the operator account is made admin in the database, as the first operator is).
 * And a confirmed address, read from the dev outbox like a developer would.
 */
let operator: Promise<string> | undefined;

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

export async function grantAccess(base: string, userId: string) {
  const res = await fetch(`${base}/api/admin/grants`, { method: "POST", headers: { cookie: await operatorCookie(base), origin: base, "content-type": "application/json" }, body: JSON.stringify({ userId, note: "e2e" }) });
  if (res.status !== 200) throw new Error(`grant ${res.status}: ${await res.text()}`);
}

/** Confirms the address with the link from the dev outbox (API keys and channels need a confirmed address). */
export async function confirmEmail(base: string, email: string) {
  const outbox = (await fetch(`${base}/api/dev/outbox`).then((r) => r.json())) as { emails: { to: string; text: string }[] };
  const token = outbox.emails.find((m) => m.to === email)?.text.match(/verify-email\?token=([\w-]+)/)?.[1];
  if (!token) throw new Error(`no confirmation mail for ${email} in the dev outbox`);
  const res = await fetch(`${base}/api/auth/verify-email`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token }) });
  if (res.status !== 200) throw new Error(`verify ${res.status}: ${await res.text()}`);
}
