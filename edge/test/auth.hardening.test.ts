import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { users } from "@oc/db/schema";
import { APP_ORIGIN, PASSWORD, call, inbox, newEmail, newIp, signup, withDb, verifiedSignup } from "./helpers";
import { totpCode } from "./totp";

/**
 * Attacks on sessions and auth requests, each with its positive control: cross-site writes with the session
 * cookie, account enumeration through signup and reset, guesses spread over many client addresses, sessions
 * that outlive a security change, and an admin's API key used as an operator credential.
 */
const keysOf = async (cookie: string) => (await call("/api/account/api-keys", { cookie })).body.keys as unknown[];

/** The limiter counts in fixed one-minute windows on the wall clock: start well inside one. */
async function insideOneMinute(needMs = 12_000) {
  const toBoundary = 60_000 - (Date.now() % 60_000);
  if (toBoundary < needMs) await new Promise((r) => setTimeout(r, toBoundary + 100));
}

describe("cookie-authenticated writes must come from the app's own origin", () => {
  it("refuses a write with the cookie but no Origin and no Sec-Fetch-Site, or from a same-site (not same-origin) page", async () => {
    const { cookie } = await verifiedSignup(); // API keys need a confirmed address
    const bare = await call("/api/account/api-keys", { cookie, body: { name: "no origin" }, origin: false });
    expect(bare.status).toBe(403);
    expect(bare.body.error.code).toBe("CROSS_SITE_REQUEST");
    // An agent's page on a subdomain is same-site: SameSite=Lax sends the cookie, the check does not let it in.
    const sameSite = await call("/api/account/api-keys", { cookie, body: { name: "same-site" }, origin: false, headers: { "sec-fetch-site": "same-site" } });
    expect(sameSite.body.error.code).toBe("CROSS_SITE_REQUEST");
    const lying = await call("/api/account/api-keys", {
      cookie,
      body: { name: "lying" },
      headers: { origin: "https://usr-x.agents.example.com", "sec-fetch-site": "same-origin" },
    });
    expect(lying.body.error.code).toBe("CROSS_SITE_REQUEST");
    expect(await keysOf(cookie)).toHaveLength(0);

    // Positive controls: the dashboard's Origin, or a browser's Sec-Fetch-Site: same-origin without one.
    expect((await call("/api/account/api-keys", { cookie, body: { name: "dashboard" }, headers: { origin: APP_ORIGIN } })).status).toBe(201);
    expect(
      (await call("/api/account/api-keys", { cookie, body: { name: "fetch-metadata" }, origin: false, headers: { "sec-fetch-site": "same-origin" } })).status,
    ).toBe(201);
    expect(await keysOf(cookie)).toHaveLength(2);
  });

  it("logout is a cookie write too: without the origin it signs nobody out", async () => {
    const { cookie } = await signup();
    const forced = await call("/api/auth/logout", { method: "POST", cookie, origin: false });
    expect([forced.status, forced.body.error.code]).toEqual([403, "CROSS_SITE_REQUEST"]);
    expect((await call("/api/auth/me", { cookie })).status).toBe(200);
    expect((await call("/api/auth/logout", { method: "POST", cookie })).status).toBe(200);
    expect((await call("/api/auth/me", { cookie })).status).toBe(401);
  });

  it("API-key calls and webhooks are not cookie calls: no origin needed", async () => {
    const { cookie } = await verifiedSignup();
    const key = (await call("/api/account/api-keys", { cookie, body: { name: "cli" } })).body.key as string;
    const viaKey = await call("/api/account/api-keys", { body: { name: "from a script" }, headers: { authorization: `Bearer ${key}` } });
    expect(viaKey.status).toBe(201);
    // A stray cookie on a webhook call changes nothing: the Stripe route answers on its own terms (the signature).
    const hook = await call("/api/webhooks/stripe", {
      rawBody: "{}",
      cookie,
      origin: false,
      headers: { "content-type": "application/json", "stripe-signature": "t=1,v1=00" },
    });
    expect(hook.body.error.code).not.toBe("CROSS_SITE_REQUEST");
  });
});

describe("signup and reset reveal no accounts", () => {
  it("signup for a known address answers exactly as for a new one, creates nothing, and tells the owner by mail", async () => {
    const owner = await signup();
    const fresh = await call("/api/auth/signup", { body: { email: newEmail(), password: "an-attackers-password" } });
    const known = await call("/api/auth/signup", { body: { email: owner.email, password: "an-attackers-password" } });
    expect([known.status, known.body, known.cookie]).toEqual([fresh.status, fresh.body, fresh.cookie]);
    expect([known.status, known.body, known.cookie]).toEqual([202, { status: "check_inbox" }, undefined]);
    expect(known.headers.get("set-cookie")).toBeNull();
    const mails = await inbox(owner.email);
    expect(mails.map((m) => m.subject)).toEqual(["Confirm your email for OpenClaw Cloud", "Someone tried to sign up with your address"]);
    expect(mails[1]!.text).toContain("Nothing was changed");
    // The account is untouched: the owner's password still works, the attacker's does not.
    expect((await call("/api/auth/login", { body: { email: owner.email, password: "an-attackers-password" } })).status).toBe(401);
    expect((await call("/api/auth/login", { body: { email: owner.email, password: PASSWORD } })).body.status).toBe("signed_in");
    expect(await withDb((db) => db.select({ id: users.id }).from(users).where(eq(users.email, owner.email)))).toHaveLength(1);
  });

  it("a password reset answers the same for known and unknown addresses", async () => {
    const owner = await signup();
    const known = await call("/api/auth/password/forgot", { body: { email: owner.email } });
    const unknown = await call("/api/auth/password/forgot", { body: { email: newEmail() } });
    expect([known.status, known.body]).toEqual([200, { ok: true }]);
    expect([unknown.status, unknown.body]).toEqual([known.status, known.body]);
  });
});

describe("limits per account as well as per client address", () => {
  it("password guesses spread over many addresses hit the per-account limit; another account is not affected", async () => {
    await insideOneMinute();
    const { email } = await signup();
    const other = await signup();
    // `signup` signed in once already; with 20 more attempts, each from a new address, the account's 20 for
    // this minute are used up (the per-IP limit never comes near).
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await call("/api/auth/login", { ip: newIp(), body: { email, password: "wrong-password-x" } })).status);
    expect(statuses.slice(0, 19).every((s) => s === 401)).toBe(true);
    const ip = newIp();
    const limited = await call("/api/auth/login", { ip, body: { email: email.toUpperCase(), password: PASSWORD } });
    expect([limited.status, limited.body.error.code]).toEqual([429, "RATE_LIMITED"]);
    expect(limited.headers.get("retry-after")).toBe("60");
    // The same fresh address signs in to another account: the limit is the account's, not the address's.
    expect((await call("/api/auth/login", { ip, body: { email: other.email, password: PASSWORD } })).body.status).toBe("signed_in");
  });

  it("2FA codes are limited per account across challenges and addresses", async () => {
    const u = await signup();
    const setup = await call("/api/account/2fa/setup", { method: "POST", cookie: u.cookie });
    expect((await call("/api/account/2fa/enable", { cookie: u.cookie, body: { code: totpCode(setup.body.secret) } })).status).toBe(200);
    await insideOneMinute();
    const statuses: number[] = [];
    // Four password logins give four challenges of five tries each: 20 guesses, each from a new address.
    for (let c = 0; c < 4; c++) {
      const challenge = (await call("/api/auth/login", { body: { email: u.email, password: PASSWORD } })).body.challenge as string;
      for (let i = 0; i < 5; i++) statuses.push((await call("/api/auth/2fa/verify", { ip: newIp(), body: { challenge, code: "000000" } })).status);
    }
    expect(statuses.every((s) => s === 401)).toBe(true);
    const challenge = (await call("/api/auth/login", { body: { email: u.email, password: PASSWORD } })).body.challenge as string;
    const limited = await call("/api/auth/2fa/verify", { ip: newIp(), body: { challenge, code: totpCode(setup.body.secret, 1) } });
    expect([limited.status, limited.body.error.code]).toEqual([429, "RATE_LIMITED"]);
  });

  it("signup and reset mails to one address are limited however many addresses ask", async () => {
    const { email } = await signup();
    await insideOneMinute();
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) statuses.push((await call("/api/auth/password/forgot", { ip: newIp(), body: { email } })).status);
    expect(statuses.slice(0, 20).every((s) => s === 200)).toBe(true);
    expect(statuses[20]).toBe(429);
    expect((await call("/api/auth/password/forgot", { body: { email: newEmail() } })).status).toBe(200);
  });
});

describe("security changes sign out the other sessions", () => {
  const otherSession = async (email: string) => (await call("/api/auth/login", { body: { email, password: PASSWORD } })).cookie!;

  it("turning 2FA on or off signs out every other session and keeps the current one", async () => {
    const u = await signup();
    const stolen = await otherSession(u.email);
    const setup = await call("/api/account/2fa/setup", { method: "POST", cookie: u.cookie });
    const enabled = await call("/api/account/2fa/enable", { cookie: u.cookie, body: { code: totpCode(setup.body.secret) } });
    expect(enabled.status).toBe(200);
    expect((await call("/api/auth/me", { cookie: stolen })).status).toBe(401);
    expect((await call("/api/auth/me", { cookie: u.cookie })).status).toBe(200);

    const challenge = (await call("/api/auth/login", { body: { email: u.email, password: PASSWORD } })).body.challenge as string;
    const second = (await call("/api/auth/2fa/verify", { body: { challenge, code: totpCode(setup.body.secret, 1) } })).cookie!;
    expect((await call("/api/auth/me", { cookie: second })).status).toBe(200);
    expect((await call("/api/account/2fa/disable", { cookie: u.cookie, body: { password: PASSWORD, code: enabled.body.recoveryCodes[0] } })).status).toBe(200);
    expect((await call("/api/auth/me", { cookie: second })).status).toBe(401);
    expect((await call("/api/auth/me", { cookie: u.cookie })).status).toBe(200);
  });

  it("a password reset signs out every session", async () => {
    const u = await signup();
    const other = await otherSession(u.email);
    await call("/api/auth/password/forgot", { body: { email: u.email } });
    const mail = (await inbox(u.email)).reverse().find((m) => m.text.includes("/reset-password?token="))!;
    const token = mail.text.match(/reset-password\?token=([\w-]+)/)![1]!;
    expect((await call("/api/auth/password/reset", { body: { token, password: "a-brand-new-password" } })).status).toBe(200);
    expect((await call("/api/auth/me", { cookie: u.cookie })).status).toBe(401);
    expect((await call("/api/auth/me", { cookie: other })).status).toBe(401);
  });
});

describe("operator routes take a session, never an API key", () => {
  it("an admin's API key gets 403 on /api/admin/*; the admin's session gets through", async () => {
    const admin = await verifiedSignup();
    await withDb((db) => db.update(users).set({ role: "admin" }).where(eq(users.id, admin.userId)));
    const key = (await call("/api/account/api-keys", { cookie: admin.cookie, body: { name: "ops script" } })).body.key as string;
    const bearer = { authorization: `Bearer ${key}` };
    expect((await call("/api/auth/me", { headers: bearer })).body.user.role).toBe("admin"); // the key itself is valid
    for (const [path, method] of [
      ["/api/admin/overview", "GET"],
      ["/api/admin/nodes", "GET"],
      ["/api/admin/fleet/check", "POST"],
      ["/api/admin/nodes/registration-tokens", "POST"],
    ] as const) {
      const res = await call(path, { method, headers: bearer });
      expect([path, res.status, res.body.error?.code]).toEqual([path, 403, "SESSION_REQUIRED"]);
    }
    expect((await call("/api/admin/overview", { cookie: admin.cookie })).status).toBe(200);
    expect((await call("/api/admin/nodes", { cookie: admin.cookie })).status).toBe(200);
  });
});
