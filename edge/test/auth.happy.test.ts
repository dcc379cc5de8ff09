import { eq } from "drizzle-orm";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { users } from "@oc/db/schema";
import { PASSWORD, call, inbox, linkToken, newEmail, signup, verifiedSignup, withDb } from "./helpers";

describe("accounts: happy paths", () => {
  it("signs up, signs in with the new password at once, and gets a verification mail through the Resend SDK", async () => {
    const email = newEmail();
    const { cookie, userId } = await signup(email);
    expect(userId).toMatch(/^usr_/);

    const me = await call("/api/auth/me", { cookie });
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ id: userId, email, emailVerified: false, twoFactorEnabled: false, role: "user" });

    const agent = await env.USER_AGENT.getByName(userId).getSnapshot();
    expect(agent).toMatchObject({ userId, status: "none", activityCount: 1 });

    const mails = await inbox(email);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toContain("Confirm your email");
    expect(mails[0]!.html).toContain("/verify-email?token=");

    const verified = await call("/api/auth/verify-email", { body: { token: await linkToken(email, "/verify-email") } });
    expect(verified.status).toBe(200);
    expect((await call("/api/auth/me", { cookie })).body.user.emailVerified).toBe(true);
  });

  it("stores a purpose-made password hash, never the password", async () => {
    const { userId } = await signup();
    const [row] = await withDb((db) => db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, userId)));
    expect(row!.hash).toMatch(/^pbkdf2-sha256\$100000\$[\w-]{22}\$[\w-]{43}$/);
    expect(row!.hash).not.toContain(PASSWORD);
  });

  it("logs in with email in any case, and logs out", async () => {
    const { email } = await signup();
    const login = await call("/api/auth/login", { body: { email: email.toUpperCase(), password: PASSWORD } });
    expect(login.status).toBe(200);
    expect(login.body.status).toBe("signed_in");
    const setCookie = login.headers.get("set-cookie")!;
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);

    const out = await call("/api/auth/logout", { method: "POST", cookie: login.cookie });
    expect(out.status).toBe(200);
    expect((await call("/api/auth/me", { cookie: login.cookie })).status).toBe(401);
  });

  it("resets a forgotten password by mail, which signs out every session", async () => {
    const { email, cookie } = await signup();
    expect((await call("/api/auth/password/forgot", { body: { email } })).status).toBe(200);
    const token = await linkToken(email, "/reset-password");
    const reset = await call("/api/auth/password/reset", { body: { token, password: "a-brand-new-password" } });
    expect(reset.status).toBe(200);

    expect((await call("/api/auth/me", { cookie })).status).toBe(401);
    expect((await call("/api/auth/login", { body: { email, password: PASSWORD } })).status).toBe(401);
    expect((await call("/api/auth/login", { body: { email, password: "a-brand-new-password" } })).body.status).toBe("signed_in");
  });

  it("lists the user's sessions and revokes one", async () => {
    const { email, cookie } = await signup();
    const second = await call("/api/auth/login", { body: { email, password: PASSWORD }, headers: { "user-agent": "SecondBrowser/1.0" } });
    const list = await call("/api/account/sessions", { cookie });
    expect(list.status).toBe(200);
    expect(list.body.sessions).toHaveLength(2);
    const other = list.body.sessions.find((s: { current: boolean }) => !s.current);
    expect(other.userAgent).toBe("SecondBrowser/1.0");

    expect((await call(`/api/account/sessions/${other.id}`, { method: "DELETE", cookie })).status).toBe(200);
    expect((await call("/api/auth/me", { cookie: second.cookie })).status).toBe(401);
    expect((await call("/api/auth/me", { cookie })).status).toBe(200);
  });

  it("creates a personal API key shown once, authenticates with it, and revokes it", async () => {
    const { cookie, userId } = await verifiedSignup();
    const created = await call("/api/account/api-keys", { cookie, body: { name: "CLI" } });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^ocp_[\w-]{43}$/);

    const listed = await call("/api/account/api-keys", { cookie });
    expect(listed.body.keys).toEqual([expect.objectContaining({ id: created.body.id, name: "CLI", prefix: created.body.key.slice(0, 10) })]);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key);

    const viaKey = await call("/api/auth/me", { headers: { authorization: `Bearer ${created.body.key}` } });
    expect(viaKey.body.user.id).toBe(userId);

    expect((await call(`/api/account/api-keys/${created.body.id}`, { method: "DELETE", cookie })).status).toBe(200);
    const after = await call("/api/auth/me", { headers: { authorization: `Bearer ${created.body.key}` } });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe("UNAUTHORIZED");
  });
});
