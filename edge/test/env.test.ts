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

  it("refuses provider and base-URL overrides outside the providers' official hosts in production", () => {
    const prod = { ...env, ENVIRONMENT: "production", APP_URL: "https://cloud.example.com", RESEND_API_KEY: "re_x", NEON_LOCAL_WSPROXY: undefined };
    const { problems } = loadEnv({
      ...prod,
      OPENAI_BASE_URL: "https://openai.evil.example/v1",
      ANTHROPIC_BASE_URL: "http://api.anthropic.com", // right host, but not https
      RESEND_BASE_URL: "https://api.resend.com:8443",
      BROWSERLESS_API_BASE: "https://browserless.io.evil.example",
      TELEGRAM_API_BASE: "http://127.0.0.1:9/telegram",
      AGENT_EDGE_URL: "http://edge.example.com",
    });
    for (const name of ["OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "RESEND_BASE_URL", "BROWSERLESS_API_BASE", "TELEGRAM_API_BASE", "AGENT_EDGE_URL"])
      expect(problems, name).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${name}: must be `))]));
    // Positive control: the same production env with official hosts (or the defaults) raises none of them.
    const official = loadEnv({
      ...prod,
      OPENAI_BASE_URL: "https://api.openai.com/v1",
      ANTHROPIC_BASE_URL: undefined,
      RESEND_BASE_URL: undefined,
      GOOGLE_AUTH_URL: undefined,
      GOOGLE_TOKEN_URL: undefined,
      GOOGLE_USERINFO_URL: undefined,
      TELEGRAM_API_BASE: undefined,
      SLACK_API_BASE: "https://slack.com/api",
      WHATSAPP_API_BASE: undefined,
      DISCORD_API_BASE: undefined,
      BROWSERLESS_API_BASE: "https://production-lon.browserless.io",
      AGENT_EDGE_URL: "https://edge.example.com",
    });
    const named = (official.problems ?? []).map((p) => p.split(":")[0]);
    expect(named.filter((n) => /_BASE_URL$|_API_BASE$|_URL$/.test(n!) && n !== "STRIPE_API_BASE" && n !== "HOSTINGER_API_BASE")).toEqual([]);
  });

  it("such a Worker answers BAD_ENVIRONMENT naming the override", async () => {
    const res = await api.request(
      "/api/health",
      {},
      { ...env, ENVIRONMENT: "production", APP_URL: "https://cloud.example.com", OPENAI_BASE_URL: "https://openai.evil.example/v1" },
    );
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("BAD_ENVIRONMENT");
    expect(body.error.message).toContain("OPENAI_BASE_URL");
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
