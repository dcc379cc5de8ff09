import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { api } from "../src/api";
import { emailOutbox } from "@oc/db/schema";
import { loadEnv } from "../src/env";
import { requestPasswordReset } from "../src/services/accounts";
import { buildServices } from "../src/services/build";
import { templates } from "../src/services/email";
import wranglerToml from "../../wrangler.toml?raw";
import { call, inbox, newEmail, signup, withDb } from "./helpers";

/**
 * Dev conveniences exist only behind DEV_MODE=local, which production refuses at startup; the repo's own
 * wrangler.toml deploys a production Worker; and a deployment's stored mails keep no live link.
 */
const testEnv = env as unknown as Record<string, unknown>;
/** The test Worker as a deployment would run it: no local flag, so no stand-in overrides either. */
const deployed = (over: Record<string, unknown> = {}) => ({
  ...testEnv,
  DEV_MODE: undefined,
  NEON_LOCAL_WSPROXY: undefined,
  RESEND_BASE_URL: undefined,
  STRIPE_API_BASE: undefined,
  HOSTINGER_API_BASE: undefined,
  ...over,
});

describe("the local-development flag", () => {
  it("production refuses to start with it, and without it the stand-in overrides are refused", () => {
    const prod = loadEnv({ ...testEnv, ENVIRONMENT: "production" }).problems;
    expect(prod).toContain("DEV_MODE: must not be set in production");
    const noFlag = loadEnv({ ...testEnv, DEV_MODE: undefined }).problems;
    for (const key of ["NEON_LOCAL_WSPROXY", "RESEND_BASE_URL", "STRIPE_API_BASE", "HOSTINGER_API_BASE"])
      expect(noFlag).toContain(`${key}: only with DEV_MODE=local (a local stand-in); unset it in a deployment`);
    expect(loadEnv(deployed()).problems).toBeUndefined(); // the same settings without the overrides are fine
    expect(loadEnv(testEnv).problems).toBeUndefined(); // positive control: the test env has the flag
  });

  it("the dev routes do not exist without the flag, even on a development Worker; with it they answer", async () => {
    for (const environment of ["development", "test"]) {
      const off = deployed({ ENVIRONMENT: environment });
      const outbox = await api.request("/api/dev/outbox", {}, off);
      expect(outbox.status).toBe(404);
      expect(((await outbox.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
      const credit = await api.request(
        "/api/dev/credit",
        { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ amountMicros: 1 }) },
        off,
      );
      expect(credit.status).toBe(404);
    }
    // Positive control: with the flag (this suite's Worker) they answer.
    const u = await signup();
    expect((await call("/api/dev/outbox")).status).toBe(200);
    expect((await call("/api/dev/credit", { body: { amountMicros: 1000 }, cookie: u.cookie })).body).toEqual({ balance: 1000 });
  });
});

describe("wrangler.toml", () => {
  const vars = Object.fromEntries(
    [...(wranglerToml.split(/^\[vars\]$/m)[1] ?? "").split(/^\[/m)[0]!.matchAll(/^(\w+)\s*=\s*"([^"]*)"/gm)].map((m) => [m[1], m[2]]),
  );

  it("deploys a production Worker: no development values, no local flag", () => {
    expect(vars.ENVIRONMENT).toBe("production");
    expect(vars.DEV_MODE).toBeUndefined();
    expect(Object.values(vars).join(" ")).not.toMatch(/localhost|127\.0\.0\.1/);
  });

  it("with only its own settings the Worker refuses to run until the production values are set", () => {
    const bindings = { USER_AGENT: {}, NODE_LINK: {}, FLEET: {}, AUTH_LIMITER: {} };
    expect(loadEnv({ ...vars, ...bindings }).problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/^APP_URL: /), expect.stringMatching(/^DATABASE_URL: /)]),
    );
    // With the basic secrets in place the production checks apply: mail, payments and models must be real.
    const basics = { APP_URL: "https://app.example.com", DATABASE_URL: "postgres://u:p@db.example.com/app", ENCRYPTION_KEY: btoa("k".repeat(32)) };
    expect(loadEnv({ ...vars, ...bindings, ...basics }).problems).toEqual(
      expect.arrayContaining(["RESEND_API_KEY: required in production", "STRIPE_SECRET_KEY: required in production", "OPENAI_API_KEY: required in production"]),
    );
  });
});

describe("stored mail", () => {
  it("a deployment keeps no live link in the stored copy, while the mail itself carries it", async () => {
    const { services, finish } = buildServices(loadEnv(testEnv).env!, "test");
    // The mailer as a deployment builds it (the flag off), on the test database and the Resend stand-in.
    const prodServices = buildServices({ ...loadEnv(testEnv).env!, DEV_MODE: undefined }, "test-prod");
    const to = newEmail();
    const token = `tok_${crypto.randomUUID().replace(/-/g, "")}`;
    const sent = await prodServices.services.mailer.send({ to, ...templates.verifyEmail(`http://localhost:8787/verify-email?token=${token}`) });
    const [row] = await withDb((db) => db.select().from(emailOutbox).where(eq(emailOutbox.id, sent.id)));
    expect(row!.text + row!.html).not.toContain(token);
    expect(row!.text).toContain("[link removed from the stored copy]");
    expect(row!.status).toBe("sent");
    expect((await inbox(to)).at(-1)!.text).toContain(token); // the person still gets a working link

    // The whole reset path through the services: the stored copy has no reset token either.
    const u = await signup();
    await requestPasswordReset(prodServices.services, u.email, { ip: null, userAgent: null });
    const resetRows = await withDb((db) => db.select().from(emailOutbox).where(eq(emailOutbox.to, u.email)));
    const reset = resetRows.find((r) => r.template === "reset_password")!;
    expect(reset.text).not.toMatch(/reset-password\?token=/);
    expect((await inbox(u.email)).some((m) => /reset-password\?token=[\w-]+/.test(m.text))).toBe(true);

    // Positive control: the local development outbox (the flag on) keeps the link, as the dev journey needs.
    const devSent = await services.mailer.send({ to, ...templates.verifyEmail(`http://localhost:8787/verify-email?token=${token}`) });
    const [devRow] = await withDb((db) => db.select().from(emailOutbox).where(eq(emailOutbox.id, devSent.id)));
    expect(devRow!.text).toContain(token);
    await finish();
    await prodServices.finish();
  });
});
