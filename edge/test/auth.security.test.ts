import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { sessions } from "@oc/db/schema";
import { sha256Hex } from "@oc/contracts/crypto";
import { PASSWORD, call, linkToken, newEmail, newIp, signup, verifiedSignup, withDb } from "./helpers";

describe("auth security", () => {
  it("a forged session cookie is refused", async () => {
    const res = await call("/api/auth/me", { cookie: "oc_session=forged-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("UNAUTHORIZED");
  });

  it("an expired session is refused", async () => {
    const { cookie } = await signup();
    const token = cookie.split("=")[1]!;
    const hash = await sha256Hex(token);
    await withDb((db) =>
      db
        .update(sessions)
        .set({ expiresAt: new Date(Date.now() - 1000) })
        .where(eq(sessions.tokenHash, hash)),
    );
    expect((await call("/api/auth/me", { cookie })).status).toBe(401);
  });

  it("stores only the hash of the session token", async () => {
    const { cookie, userId } = await signup();
    const token = cookie.split("=")[1]!;
    const rows = await withDb((db) => db.select().from(sessions).where(eq(sessions.userId, userId)));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.tokenHash).toBe(await sha256Hex(token));
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it("a reset token works once; reusing it fails", async () => {
    const { email } = await signup();
    await call("/api/auth/password/forgot", { body: { email } });
    const token = await linkToken(email, "/reset-password");
    expect((await call("/api/auth/password/reset", { body: { token, password: "first-new-password" } })).status).toBe(200);
    const again = await call("/api/auth/password/reset", { body: { token, password: "second-new-password" } });
    expect(again.status).toBe(400);
    expect(again.body.error.code).toBe("INVALID_TOKEN");
    expect((await call("/api/auth/login", { body: { email, password: "first-new-password" } })).body.status).toBe("signed_in");
  });

  it("a verification token cannot be used as a reset token", async () => {
    const { email } = await signup();
    const token = await linkToken(email, "/verify-email");
    const res = await call("/api/auth/password/reset", { body: { token, password: "hijacked-password" } });
    expect(res.body.error.code).toBe("INVALID_TOKEN");
  });

  it("cannot revoke another user's session (it is 'not found')", async () => {
    const alice = await signup();
    const bob = await signup();
    const bobs = await call("/api/account/sessions", { cookie: bob.cookie });
    const bobSession = bobs.body.sessions[0].id;
    const res = await call(`/api/account/sessions/${bobSession}`, { method: "DELETE", cookie: alice.cookie });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("NOT_FOUND");
    expect((await call("/api/auth/me", { cookie: bob.cookie })).status).toBe(200);
  });

  it("cannot revoke another user's API key", async () => {
    const alice = await signup();
    const bob = await verifiedSignup();
    const key = await call("/api/account/api-keys", { cookie: bob.cookie, body: { name: "bob" } });
    const res = await call(`/api/account/api-keys/${key.body.id}`, { method: "DELETE", cookie: alice.cookie });
    expect(res.status).toBe(404);
    expect((await call("/api/auth/me", { headers: { authorization: `Bearer ${key.body.key}` } })).status).toBe(200);
  });

  it("refuses cookie-authenticated writes from another origin", async () => {
    const { cookie } = await signup();
    const res = await call("/api/account/api-keys", { cookie, body: { name: "csrf" }, headers: { origin: "https://evil.example" } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("CROSS_SITE_REQUEST");
    expect((await call("/api/account/api-keys", { cookie })).body.keys).toHaveLength(0);
  });

  it("rate-limits login attempts per client IP", async () => {
    const { email } = await signup();
    const ip = newIp();
    // The limiter counts in fixed one-minute windows on the wall clock: start well inside one.
    const toBoundary = 60_000 - (Date.now() % 60_000);
    if (toBoundary < 5_000) await new Promise((r) => setTimeout(r, toBoundary + 100));
    const statuses: number[] = [];
    // Each guess names another address, so only the per-IP limit can stop them (auth.hardening covers per account).
    for (let i = 0; i < 22; i++) statuses.push((await call("/api/auth/login", { ip, body: { email: newEmail(), password: "wrong-password-x" } })).status);
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    const limited = await call("/api/auth/login", { ip, body: { email, password: PASSWORD } });
    expect(limited.body.error.code).toBe("RATE_LIMITED");
    expect(limited.headers.get("retry-after")).toBe("60");
    // Another address is not affected.
    expect((await call("/api/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
  });
});
