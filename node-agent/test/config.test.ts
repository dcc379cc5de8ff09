import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openclawConfig, type AgentConfigInput } from "@oc/contracts/openclaw-config";
import { CERT_RESOLVER, ENTRYPOINT_SECURE, TraefikRoutes, dynamicConfig, routerName, staticConfig } from "../src/traefik";

const OPENCLAW = join(import.meta.dirname, "../image/node_modules/.bin/openclaw");

// OpenClaw's CLI logs to a fixed /tmp/openclaw (not the temp dir): removed at the end unless it was there before.
const OPENCLAW_LOG_DIR = "/tmp/openclaw";
const logDirWasThere = existsSync(OPENCLAW_LOG_DIR);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (!logDirWasThere) rmSync(OPENCLAW_LOG_DIR, { recursive: true, force: true });
});

/** Runs the real OpenClaw validator (the pinned package in node-agent/image) on a generated config. */
function validate(config: unknown): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "oc-config-"));
  dirs.push(dir);
  writeFileSync(join(dir, "openclaw.json"), JSON.stringify(config, null, 2));
  try {
    const output = execFileSync(OPENCLAW, ["config", "validate"], {
      // TMPDIR too: its compile cache goes to the temp dir, here this scratch dir.
      env: { PATH: process.env.PATH, HOME: dir, OPENCLAW_STATE_DIR: dir, TMPDIR: dir },
      encoding: "utf8",
      stdio: "pipe",
    });
    return { ok: true, output };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, output: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

const base: AgentConfigInput = {
  host: "usr-abc.agents.example.com",
  edgeUrl: "https://cloud.example.com",
  proxyKey: "ocx_usr_aaaaaaaaaaaaaaaaaaaaaaaa_secretsecretsecretsecret",
  openaiModels: [
    { id: "auto", contextWindow: 200_000, maxTokens: 4096 },
    { id: "gpt-4.1-mini", contextWindow: 1_047_576, maxTokens: 32_768 },
  ],
  anthropicModels: [{ id: "claude-sonnet-4-5", contextWindow: 200_000, maxTokens: 64_000 }],
};

describe("openclaw.json generation (checked by the real OpenClaw validator)", () => {
  it("the default tenant config is valid and routes every model call through the proxy", () => {
    const config = openclawConfig(base);
    const result = validate(config);
    expect(result.output).toContain("Config valid");
    expect(result.ok).toBe(true);
    const text = JSON.stringify(config);
    expect(config).toMatchObject({
      gateway: {
        bind: "lan",
        port: 18789,
        auth: { mode: "token" },
        terminal: { enabled: false },
        http: { endpoints: { chatCompletions: { enabled: true } } },
        controlUi: { root: "/opt/openclaw/node_modules/openclaw/dist/control-ui" }, // no per-start copy into the state dir
      },
      models: { mode: "replace" },
      agents: { defaults: { model: { primary: "meter/auto" }, heartbeat: { every: "0m" } } },
      tools: { loopDetection: { enabled: true } },
      // The image's seeded channel plugins are off until a channel is connected.
      plugins: { entries: { discord: { enabled: false }, slack: { enabled: false }, whatsapp: { enabled: false } } },
    });
    expect(text).toContain('"baseUrl":"https://cloud.example.com/v1"');
    expect(text).not.toMatch(/api\.openai\.com|api\.anthropic\.com|sk-/); // no upstream endpoint or key
    expect(text).not.toContain("OPENCLAW_GATEWAY_TOKEN"); // the token comes from the environment
  });

  it("Telegram in webhook mode (behind the edge) is valid", () => {
    const config = openclawConfig({
      ...base,
      telegram: { botToken: "123456:ABC-def_ghi", webhookUrl: "https://cloud.example.com/hooks/telegram/agt_x", webhookSecret: "s3cret-token_value" },
    });
    expect(config.channels).toMatchObject({ telegram: { webhookHost: "0.0.0.0", webhookPort: 8787, webhookPath: "/telegram-webhook", dmPolicy: "pairing" } });
    const r = validate(config);
    expect(r.ok, r.output).toBe(true);
  });

  it("the remote browser (the edge's CDP relay) is valid, carries only the browser key, and never names Browserless or its token", () => {
    const browserKey = "ocb_usr_aaaaaaaaaaaaaaaaaaaaaaaa_browserbrowserbrowserkey";
    const cdpUrl = `wss://agent:${browserKey}@cloud.example.com/browser/devtools/browser/agt_x`;
    const config = openclawConfig({ ...base, browserCdpUrl: cdpUrl });
    expect(config.browser).toEqual({
      enabled: true,
      defaultProfile: "remote",
      profiles: { remote: { cdpUrl, attachOnly: true } },
      ssrfPolicy: { allowedHostnames: ["cloud.example.com"] },
    });
    const r = validate(config);
    expect(r.ok, r.output).toBe(true);
    expect(JSON.stringify(config.browser)).not.toContain(base.proxyKey);
    expect(() => openclawConfig({ ...base, browserCdpUrl: "wss://production-sfo.browserless.io?token=operator-secret" })).toThrow(/CDP relay/);
    // Neither the spending key nor any key in the query string (it would land in access logs).
    expect(() => openclawConfig({ ...base, browserCdpUrl: `wss://agent:${base.proxyKey}@cloud.example.com/browser/devtools/browser/agt_x` })).toThrow(
      /CDP relay/,
    );
    expect(() => openclawConfig({ ...base, browserCdpUrl: `wss://cloud.example.com/browser/devtools/browser/agt_x?token=${browserKey}` })).toThrow(/CDP relay/);
  });

  it("Slack (HTTP mode), WhatsApp Web and a Discord bot through OpenClaw's own plugins are valid, each enabled explicitly", () => {
    const token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz012345";
    const slack = { botToken: "xoxb-1-2-abc", signingSecret: "0123456789abcdef0123" };
    const config = openclawConfig({ ...base, whatsappWeb: {}, discordBot: { token }, slack });
    expect(config.plugins).toMatchObject({ entries: { discord: { enabled: true }, whatsapp: { enabled: true }, slack: { enabled: true }, "memory-core": {} } });
    expect(JSON.stringify(config.plugins)).not.toContain("load"); // a copy on plugins.load.paths is never trusted
    expect(config.channels).toEqual({
      whatsapp: { enabled: true, dmPolicy: "pairing" },
      slack: { enabled: true, mode: "http", ...slack, webhookPath: "/slack/events", dmPolicy: "pairing" },
      discord: { enabled: true, token, dmPolicy: "pairing" },
    });
    // The image installs the plugins into each agent's state; the validator here reads their schemas from the
    // pinned local copies instead.
    const plugins = join(import.meta.dirname, "../image/node_modules/@openclaw");
    const r = validate({
      ...config,
      plugins: { ...(config.plugins as object), load: { paths: [`${plugins}/whatsapp`, `${plugins}/discord`, `${plugins}/slack`] } },
    });
    expect(r.ok, r.output).toBe(true);
    expect(() => openclawConfig({ ...base, discordBot: { token: "not a token" } })).toThrow(/Discord bot token/);
  });

  it("a fixed Anthropic model, heartbeat, dreaming and disabled skills are valid too", () => {
    const config = openclawConfig({ ...base, model: "claude-sonnet-4-5", heartbeatEvery: "2h", dreaming: true, disabledSkills: ["weather", "github"] });
    expect(validate(config).ok).toBe(true);
    expect(config).toMatchObject({ agents: { defaults: { model: { primary: "meter-anthropic/claude-sonnet-4-5" } } } });
  });

  it("the validator really rejects what OpenClaw would refuse to start with", () => {
    const broken = { ...openclawConfig(base), gateway: { ...(openclawConfig(base).gateway as object), surprise: true } };
    const result = validate(broken);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('Unrecognized key: "surprise"');
  });

  it("refuses bad input before writing anything", () => {
    expect(() => openclawConfig({ ...base, host: "Not A Host" })).toThrow(/hostname/);
    expect(() => openclawConfig({ ...base, proxyKey: "sk-real-upstream-key" })).toThrow();
  });
});

describe("Traefik's file-provider routes and static config (Traefik's documented syntax)", () => {
  const dyn = dynamicConfig({ userId: "usr_abc123", host: "usr-abc123.agents.example.com", ip: "10.213.0.2" });
  const r = routerName("usr_abc123");

  it("routes the agent's host to its gateway over TLS, by its bridge address", () => {
    expect(r).toMatch(/^[A-Za-z0-9_-]+$/);
    const router = dyn.http.routers[r]!;
    expect(router.rule).toBe("Host(`usr-abc123.agents.example.com`)");
    // Rule grammar: matcher(`value`), with backticks, as in Traefik's v2/v3 docs.
    expect(router.rule).toMatch(/^Host\(`[a-z0-9.-]+`\)$/);
    expect(router.service).toBe(r);
    expect(dyn.http.services[r]!.loadBalancer.servers).toEqual([{ url: "http://10.213.0.2:18789" }]);
  });

  it("every entrypoint and resolver a route names exists in the static config; no Docker provider", () => {
    const s = staticConfig({ acmeEmail: "ops@example.com" });
    for (const ep of dyn.http.routers[r]!.entryPoints) expect(Object.keys(s.entryPoints)).toContain(ep);
    expect(Object.keys(s.certificatesResolvers)).toContain(dyn.http.routers[r]!.tls.certResolver);
    expect(s.providers).toEqual({ file: { directory: "/etc/traefik/dynamic", watch: true } });
    expect(JSON.stringify(s)).not.toContain("docker.sock");
    expect(s.entryPoints.web.http.redirections.entryPoint).toEqual({ to: ENTRYPOINT_SECURE, scheme: "https" });
    expect(CERT_RESOLVER).toBe("le");
    expect(JSON.parse(JSON.stringify(s))).toEqual(s); // JSON, hence valid YAML for traefik.yml
  });

  it("writes one file per agent, atomically, with an extension Traefik reads, and removes it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "oc-traefik-"));
    dirs.push(dir);
    const routes = new TraefikRoutes(join(dir, "dynamic"));
    await routes.publish("usr_abc123", "usr-abc123.agents.example.com", "10.213.0.2");
    expect(readdirSync(join(dir, "dynamic"))).toEqual(["oc-usr_abc123.yml"]);
    expect(JSON.parse(readFileSync(routes.file("usr_abc123"), "utf8"))).toEqual(dyn);
    await routes.withdraw("usr_abc123");
    expect(readdirSync(join(dir, "dynamic"))).toEqual([]);
  });

  it("refuses a host or address that would break the rule", () => {
    expect(() => dynamicConfig({ userId: "u", host: "evil`) || Host(`x", ip: "10.0.0.1" })).toThrow();
    expect(() => dynamicConfig({ userId: "u", host: "a.example.com", ip: "10.0.0.1/evil" })).toThrow();
  });
});

describe("the bundled skills list", () => {
  it("matches the pinned OpenClaw package (run scripts/extract-skills.mjs after changing the pin)", async () => {
    const { BUNDLED_SKILLS } = await import("@oc/contracts/bundled-skills");
    // @ts-expect-error plain ESM script without types
    const { bundledSkills } = await import("../../scripts/extract-skills.mjs");
    expect(BUNDLED_SKILLS).toEqual(bundledSkills());
    expect(BUNDLED_SKILLS.length).toBeGreaterThan(40);
  });
});
