import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { oauthAccounts, users } from "../src/db/schema";
import { PASSWORD, call, newEmail, newIp, signup, withDb } from "./helpers";

interface Profile {
  sub: string;
  email: string;
  email_verified: boolean;
  name?: string;
}

/**
 * Drives the whole browser round trip: our /api/auth/google → the local Google stand-in's /authorize
 * (which "signs in" as `profile`) → our callback with code and state, carrying the cookies like a browser.
 */
async function googleLogin(profile: Profile, tamper?: (callbackUrl: URL) => void) {
  const ip = newIp();
  const start = await call("/api/auth/google", { ip });
  expect(start.status).toBe(302);
  const jar = start.headers.getSetCookie().map((c: string) => c.split(";")[0]).join("; ");
  const authorize = new URL(start.headers.get("location")!);
  expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
  authorize.searchParams.set("test_profile", btoa(JSON.stringify(profile)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_"));
  const back = await fetch(authorize, { redirect: "manual" });
  expect(back.status).toBe(302);
  const callback = new URL(back.headers.get("location")!);
  tamper?.(callback);
  return call(`${callback.pathname}${callback.search}`, { ip, cookie: jar });
}

const profile = (over: Partial<Profile> = {}): Profile => ({ sub: crypto.randomUUID(), email: newEmail(), email_verified: true, name: "Goo Gle", ...over });

describe("Google OAuth login (against a local OAuth stand-in)", () => {
  it("creates a verified account on first login and signs in again on the second", async () => {
    const p = profile();
    const first = await googleLogin(p);
    expect(first.status).toBe(302);
    expect(first.headers.get("location")).toBe("/dashboard");
    const me = await call("/api/auth/me", { cookie: first.cookie });
    expect(me.body.user).toMatchObject({ email: p.email, emailVerified: true, name: "Goo Gle" });

    const second = await googleLogin(p);
    const me2 = await call("/api/auth/me", { cookie: second.cookie });
    expect(me2.body.user.id).toBe(me.body.user.id);
    const links = await withDb((db) => db.select().from(oauthAccounts).where(eq(oauthAccounts.providerUserId, p.sub)));
    expect(links).toHaveLength(1);
  });

  it("links to an existing unverified password account and removes the squatter's password", async () => {
    const squatted = await signup(); // someone registered this address without owning it
    const res = await googleLogin(profile({ email: squatted.email }));
    expect((await call("/api/auth/me", { cookie: res.cookie })).body.user.id).toBe(squatted.userId);
    expect((await call("/api/auth/login", { body: { email: squatted.email, password: PASSWORD } })).status).toBe(401);
    const [u] = await withDb((db) => db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, squatted.userId)));
    expect(u!.hash).toBeNull();
  });

  it("refuses an unverified Google email", async () => {
    const res = await googleLogin(profile({ email_verified: false }));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("OAUTH_FAILED");
  });

  it("refuses a callback whose state does not match this browser's", async () => {
    const res = await googleLogin(profile(), (u) => u.searchParams.set("state", "attacker-state"));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("OAUTH_FAILED");
    expect(res.cookie).toBeUndefined();
  });

  it("refuses a stolen code replayed without the PKCE verifier cookie", async () => {
    const p = profile();
    const ip = newIp();
    const start = await call("/api/auth/google", { ip });
    const authorize = new URL(start.headers.get("location")!);
    authorize.searchParams.set("test_profile", btoa(JSON.stringify(p)).replace(/=+$/, ""));
    const back = new URL((await fetch(authorize, { redirect: "manual" })).headers.get("location")!);
    const res = await call(`${back.pathname}${back.search}`, { ip }); // no cookies: another browser
    expect(res.body.error.code).toBe("OAUTH_FAILED");
  });
});
