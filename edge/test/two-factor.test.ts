import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { recoveryCodes, users } from "@oc/db/schema";
import { PASSWORD, call, signup, withDb } from "./helpers";
import { totpCode } from "./totp";

async function userWith2fa() {
  const u = await signup();
  const setup = await call("/api/account/2fa/setup", { method: "POST", cookie: u.cookie });
  expect(setup.status).toBe(200);
  expect(setup.body.uri).toMatch(/^otpauth:\/\/totp\//);
  const enable = await call("/api/account/2fa/enable", { cookie: u.cookie, body: { code: totpCode(setup.body.secret) } });
  expect(enable.status).toBe(200);
  return { ...u, secret: setup.body.secret as string, recoveryCodes: enable.body.recoveryCodes as string[] };
}

async function passwordStep(email: string) {
  const res = await call("/api/auth/login", { body: { email, password: PASSWORD } });
  expect(res.body.status).toBe("two_factor_required");
  expect(res.cookie).toBeUndefined();
  return res.body.challenge as string;
}

describe("two-factor authentication (TOTP)", () => {
  it("enables 2FA, stores the secret encrypted and recovery codes hashed", async () => {
    const u = await userWith2fa();
    expect(u.recoveryCodes).toHaveLength(10);
    const [row] = await withDb((db) => db.select({ enc: users.totpSecretEnc, on: users.totpEnabledAt }).from(users).where(eq(users.id, u.userId)));
    expect(row!.on).not.toBeNull();
    expect(row!.enc).toMatch(/^v1\./);
    expect(row!.enc).not.toContain(u.secret);
    const codes = await withDb((db) => db.select().from(recoveryCodes).where(eq(recoveryCodes.userId, u.userId)));
    expect(codes).toHaveLength(10);
    for (const c of codes) expect(u.recoveryCodes.map((r) => r.replace(/-/g, ""))).not.toContain(c.codeHash);
  });

  it("password alone gives no session; the right code does", async () => {
    const u = await userWith2fa();
    const challenge = await passwordStep(u.email);
    expect((await call("/api/auth/me", { cookie: `oc_session=${challenge}` })).status).toBe(401);
    // A code from the next step (clock drift) is accepted once.
    const ok = await call("/api/auth/2fa/verify", { body: { challenge, code: totpCode(u.secret, 1) } });
    expect(ok.status).toBe(200);
    expect(ok.body.status).toBe("signed_in");
    expect((await call("/api/auth/me", { cookie: ok.cookie })).body.user.twoFactorEnabled).toBe(true);
  });

  it("refuses a replayed code, a wrong code, and locks the challenge after 5 attempts", async () => {
    const u = await userWith2fa();
    const first = await passwordStep(u.email);
    const code = totpCode(u.secret, 1);
    expect((await call("/api/auth/2fa/verify", { body: { challenge: first, code } })).status).toBe(200);

    const second = await passwordStep(u.email);
    const replay = await call("/api/auth/2fa/verify", { body: { challenge: second, code } });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe("INVALID_TWO_FACTOR_CODE");

    for (let i = 0; i < 4; i++) expect((await call("/api/auth/2fa/verify", { body: { challenge: second, code: "000000" } })).status).toBe(401);
    // The challenge is used up: even the right code is refused now.
    const locked = await call("/api/auth/2fa/verify", { body: { challenge: second, code: totpCode(u.secret) } });
    expect(locked.status).toBe(400);
    expect(locked.body.error.code).toBe("INVALID_TOKEN");
  });

  it("accepts a recovery code exactly once", async () => {
    const u = await userWith2fa();
    const code = u.recoveryCodes[0]!;
    const c1 = await passwordStep(u.email);
    expect((await call("/api/auth/2fa/verify", { body: { challenge: c1, code } })).status).toBe(200);
    const c2 = await passwordStep(u.email);
    expect((await call("/api/auth/2fa/verify", { body: { challenge: c2, code } })).status).toBe(401);
  });

  it("a forged or unknown challenge gets nothing", async () => {
    const res = await call("/api/auth/2fa/verify", { body: { challenge: "forged-challenge-token-123", code: "123456" } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("INVALID_TOKEN");
  });

  it("turning 2FA off needs the password and a code", async () => {
    const u = await userWith2fa();
    const wrongPw = await call("/api/account/2fa/disable", { cookie: u.cookie, body: { password: "not-the-password", code: totpCode(u.secret) } });
    expect(wrongPw.body.error.code).toBe("INVALID_CREDENTIALS");
    const noCode = await call("/api/account/2fa/disable", { cookie: u.cookie, body: { password: PASSWORD, code: "999999" } });
    expect(noCode.body.error.code).toBe("INVALID_TWO_FACTOR_CODE");
    const ok = await call("/api/account/2fa/disable", { cookie: u.cookie, body: { password: PASSWORD, code: u.recoveryCodes[1]! } });
    expect(ok.status).toBe(200);
    expect((await call("/api/auth/login", { body: { email: u.email, password: PASSWORD } })).body.status).toBe("signed_in");
  });
});
