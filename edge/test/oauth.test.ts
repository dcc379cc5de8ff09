import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { apiKeys, channels, oauthAccounts, recoveryCodes, users } from "@oc/db/schema";
import { SecretBox, sha256Hex } from "@oc/contracts/crypto";
import { PASSWORD, call, newEmail, newIp, signup, verifiedSignup, withDb } from "./helpers";
import { TEST_PORTS } from "../../test-harness/ports";
import { totpCode } from "./totp";

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
  const jar = start.headers
    .getSetCookie()
    .map((c: string) => c.split(";")[0])
    .join("; ");
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

describe("Google sign-in on an address someone registered without owning it (pre-hijacking)", () => {
  it("the owner's Google sign-in removes every way back in the earlier holder set up, and the owner stays signed in", async () => {
    const victim = newEmail();
    const attacker = await signup(victim); // the attacker registers the victim's address; it is never confirmed
    // The doors a confirmed address opens stay shut meanwhile.
    expect((await call("/api/account/api-keys", { body: { name: "backdoor" }, cookie: attacker.cookie })).body.error.code).toBe("EMAIL_NOT_VERIFIED");
    expect((await call("/api/channels/telegram", { body: { botToken: "424242:DDDDDDDDDDDDDDDDDDDDDDDDDDDD" }, cookie: attacker.cookie })).body.error.code).toBe(
      "EMAIL_NOT_VERIFIED",
    );
    // 2FA on the attacker's authenticator, with recovery codes.
    const setup = await call("/api/account/2fa/setup", { method: "POST", cookie: attacker.cookie });
    expect((await call("/api/account/2fa/enable", { cookie: attacker.cookie, body: { code: totpCode(setup.body.secret) } })).status).toBe(200);
    // A proxy key that spends the account's balance, and (as an account from before these checks might hold)
    // an API key and a connected Telegram bot.
    const proxyKey = (await call("/api/agent/proxy-key", { method: "POST", cookie: attacker.cookie })).body;
    const apiKey = `ocp_${"k".repeat(43)}${crypto.randomUUID().slice(0, 4)}`;
    const botToken = `424242:${crypto.randomUUID().replace(/-/g, "")}`;
    await withDb(async (db) => {
      await db.insert(apiKeys).values({
        id: `key_${crypto.randomUUID().slice(0, 8)}`,
        userId: attacker.userId,
        name: "old",
        prefix: apiKey.slice(0, 10),
        keyHash: await sha256Hex(apiKey),
      });
      const creds = await new SecretBox(env.ENCRYPTION_KEY).encrypt(
        JSON.stringify({ botToken, webhookSecret: "s".repeat(24) }),
        `channel:${proxyKey.agentId}:telegram`,
      );
      await db
        .insert(channels)
        .values({ id: `chn_${crypto.randomUUID().slice(0, 8)}`, agentId: proxyKey.agentId, kind: "telegram", credentialsEnc: creds, status: "connected" });
    });
    expect((await call("/api/auth/me", { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(200);
    expect((await env.USER_AGENT.getByName(attacker.userId).checkKey(await sha256Hex(proxyKey.key))).ok).toBe(true);

    const res = await googleLogin(profile({ email: victim, name: "Real Owner" }));
    expect(res.headers.get("location")).toBe("/dashboard"); // signed in at once: the attacker's 2FA does not stand in the way
    const me = await call("/api/auth/me", { cookie: res.cookie });
    expect(me.body.user).toMatchObject({ id: attacker.userId, emailVerified: true, twoFactorEnabled: false, name: "Real Owner" });

    expect((await call("/api/auth/me", { cookie: attacker.cookie })).status).toBe(401); // the attacker's session
    expect((await call("/api/auth/me", { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(401); // the API key
    expect((await call("/api/auth/login", { body: { email: victim, password: PASSWORD } })).status).toBe(401); // the password
    expect(await env.USER_AGENT.getByName(attacker.userId).checkKey(await sha256Hex(proxyKey.key))).toEqual({ ok: false }); // the proxy key
    const [row] = await withDb((db) => db.select({ enc: users.totpSecretEnc, on: users.totpEnabledAt }).from(users).where(eq(users.id, attacker.userId)));
    expect(row).toEqual({ enc: null, on: null }); // the TOTP seed
    expect(await withDb((db) => db.select().from(recoveryCodes).where(eq(recoveryCodes.userId, attacker.userId)))).toEqual([]);
    expect(await withDb((db) => db.select().from(channels).where(eq(channels.agentId, proxyKey.agentId)))).toEqual([]); // the bot
    const received = (await fetch(`http://127.0.0.1:${TEST_PORTS.chat}/_received`).then((r) => r.json())) as { path: string }[];
    expect(received.some((r) => r.path.endsWith(`/bot${botToken}/deleteWebhook`))).toBe(true); // Telegram stops calling
    const sessionsLeft = (await call("/api/account/sessions", { cookie: res.cookie })).body.sessions;
    expect(sessionsLeft).toHaveLength(1); // only the owner's own
  });

  it("positive control: a confirmed account that links Google keeps its own sessions and keys", async () => {
    const owner = await verifiedSignup();
    const key = (await call("/api/account/api-keys", { body: { name: "mine" }, cookie: owner.cookie })).body.key as string;
    const res = await googleLogin(profile({ email: owner.email }));
    expect((await call("/api/auth/me", { cookie: res.cookie })).body.user.id).toBe(owner.userId);
    expect((await call("/api/auth/me", { cookie: owner.cookie })).status).toBe(200);
    expect((await call("/api/auth/me", { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    expect((await call("/api/auth/login", { body: { email: owner.email, password: PASSWORD } })).body.status).toBe("signed_in");
  });
});
