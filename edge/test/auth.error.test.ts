import { count, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { users } from "@oc/db/schema";
import { PASSWORD, call, newEmail, signup, withDb } from "./helpers";

const userCount = () => withDb(async (db) => (await db.select({ n: count() }).from(users))[0]!.n);

function expectEnvelope(res: { status: number; body: any; headers: Headers }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe("string");
  expect(res.body.error.requestId).toBe(res.headers.get("x-request-id"));
  expect(JSON.stringify(res.body)).not.toMatch(/at \w+ \(|\.ts:\d+/); // never a stack trace
}

describe("bad input gets the error envelope and writes nothing", () => {
  it("malformed JSON", async () => {
    const before = await userCount();
    const res = await call("/api/auth/signup", { rawBody: '{"email": "x@example.com", ', headers: { "content-type": "application/json" } });
    expectEnvelope(res, 400, "INVALID_JSON");
    expect(await userCount()).toBe(before);
  });

  it("missing and invalid fields, with per-field details", async () => {
    const res = await call("/api/auth/signup", { body: { email: "not-an-email" } });
    expectEnvelope(res, 400, "VALIDATION_FAILED");
    const paths = res.body.error.details.map((d: { path: string }) => d.path);
    expect(paths).toEqual(expect.arrayContaining(["email", "password"]));
  });

  it("a password that is too short", async () => {
    const email = newEmail();
    const res = await call("/api/auth/signup", { body: { email, password: "short" } });
    expectEnvelope(res, 400, "VALIDATION_FAILED");
    expect(res.body.error.message).toContain("password");
    expect(await withDb((db) => db.select().from(users).where(eq(users.email, email)))).toHaveLength(0);
  });

  it("wrong content type", async () => {
    const before = await userCount();
    const res = await call("/api/auth/signup", {
      rawBody: "email=a@b.co&password=xxxxxxxxxxxx",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expectEnvelope(res, 415, "UNSUPPORTED_MEDIA_TYPE");
    expect(await userCount()).toBe(before);
  });

  it("oversized body", async () => {
    const before = await userCount();
    const res = await call("/api/auth/signup", { body: { email: newEmail(), password: PASSWORD, name: "x".repeat(2 * 1024 * 1024) } });
    expectEnvelope(res, 413, "PAYLOAD_TOO_LARGE");
    expect(await userCount()).toBe(before);
  });

  it("unknown routes", async () => {
    expectEnvelope(await call("/api/nope"), 404, "NOT_FOUND");
    expectEnvelope(await call("/api/auth/signup", { method: "GET" }), 404, "NOT_FOUND");
  });

  it("duplicate signup creates nothing, whatever the email's case (and answers as for a new address)", async () => {
    const { email } = await signup();
    const before = await userCount();
    const again = await call("/api/auth/signup", { body: { email: email.toUpperCase(), password: PASSWORD } });
    expect([again.status, again.body, again.cookie]).toEqual([202, { status: "check_inbox" }, undefined]);
    expect(await userCount()).toBe(before);
  });

  it("wrong password and unknown email look the same", async () => {
    const { email } = await signup();
    const wrong = await call("/api/auth/login", { body: { email, password: "wrong-password-here" } });
    const unknown = await call("/api/auth/login", { body: { email: newEmail(), password: "wrong-password-here" } });
    expectEnvelope(wrong, 401, "INVALID_CREDENTIALS");
    expectEnvelope(unknown, 401, "INVALID_CREDENTIALS");
    expect(wrong.body.error.message).toBe(unknown.body.error.message);
  });

  it("password reset for an unknown email answers ok and sends nothing", async () => {
    const res = await call("/api/auth/password/forgot", { body: { email: newEmail() } });
    expect(res.status).toBe(200);
  });

  it("protected routes without credentials", async () => {
    expectEnvelope(await call("/api/account/sessions"), 401, "UNAUTHORIZED");
    expectEnvelope(await call("/api/account/api-keys", { body: { name: "x" } }), 401, "UNAUTHORIZED");
  });
});
