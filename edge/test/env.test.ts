import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api } from "../src/api";
import { loadEnv } from "../src/env";

describe("env schema", () => {
  it("accepts the test environment", () => {
    expect(loadEnv(env).problems).toBeUndefined();
  });

  it("names each missing or malformed variable", () => {
    const { DATABASE_URL: _omit, ...rest } = env as unknown as Record<string, unknown>;
    const { problems } = loadEnv({ ...rest, ENCRYPTION_KEY: "too-short" });
    expect(problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/^DATABASE_URL: /), expect.stringMatching(/^ENCRYPTION_KEY: must be 32 random bytes/)]),
    );
  });

  it("refuses dev conveniences in production", () => {
    const { problems } = loadEnv({ ...env, ENVIRONMENT: "production", RESEND_API_KEY: undefined });
    expect(problems).toEqual(
      expect.arrayContaining([
        "RESEND_API_KEY: required in production",
        "NEON_LOCAL_WSPROXY: must not be set in production",
        "APP_URL: must be https:// in production",
      ]),
    );
  });

  it("a misconfigured Worker answers BAD_ENVIRONMENT naming the variable, and nothing else runs", async () => {
    const { ENCRYPTION_KEY: _omit, ...broken } = env as unknown as Record<string, unknown>;
    const res = await api.request("/api/health", {}, broken);
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("BAD_ENVIRONMENT");
    expect(body.error.message).toContain("ENCRYPTION_KEY");
  });
});
