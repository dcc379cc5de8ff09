import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launch } from "../test-harness/browser";
import { payForStarterInBrowser, signUpInBrowser } from "../test-harness/customer";
import { poll } from "../test-harness/poll";
import { DEV_START } from "../test-harness/ports";

/**
 * The README's start command, exactly as a newcomer runs it: `npm run dev` (on private ports and a private
 * run dir, sharing this run's Docker engine and its already built agent image), then the customer journey
 * in Chromium against it with real OpenClaw, then Ctrl-C, after which nothing it started may still run.
 */
const runDir = mkdtempSync(join(tmpdir(), "oc-devstart-"));
const PORT = DEV_START.edge;
const env = { ...process.env, OC_RUN: runDir, OC_DEV_PORT: String(PORT), OC_DEV_PORT_BASE: String(DEV_START.bridge), OC_PGPORT: String(DEV_START.pg) };
const base = `http://localhost:${PORT}`;
const email = `newcomer-${Date.now()}@example.com`;
const password = "a-long-newcomer-password";
const before = new Set(pids());
let dev: ChildProcess;
let output = "";
let exited: Promise<number | null>;
let browser: BrowserContext;
let page: Page;
const pageErrors: string[] = [];
const consoleErrors: string[] = [];
const urls: string[] = [];

function pids(): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** Processes that belong to this start: they carry its run dir in their environment or command line. */
function startedByDev(): string[] {
  const found: string[] = [];
  for (const pid of pids()) {
    if (before.has(pid) || pid === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, "utf8");
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (environ.includes(`OC_RUN=${runDir}\0`) || cmdline.includes(runDir)) found.push(`${pid} ${cmdline.slice(0, 160)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

/** Agent containers whose state lives in this start's run dir. */
function devContainers(runningOnly: boolean): string[] {
  const ids = execFileSync("docker", ["ps", "-q", ...(runningOnly ? [] : ["-a"]), "--filter", "label=openclaw.managed=true"], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean);
  return ids.filter((id) => execFileSync("docker", ["inspect", "--format", "{{range .Mounts}}{{.Source}} {{end}}", id], { encoding: "utf8" }).includes(runDir));
}

beforeAll(async () => {
  dev = spawn("npm", ["run", "dev"], { cwd: join(import.meta.dirname, ".."), env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  dev.stdout!.on("data", (d) => (output += d));
  dev.stderr!.on("data", (d) => (output += d));
  exited = new Promise((resolve) => dev.once("exit", (code) => resolve(code)));
  const settled = () => output.includes("OpenClaw Cloud is ready") || output.includes("WITHOUT AGENTS") || dev.exitCode !== null;
  await poll(settled, (done) => done, { timeoutMs: 480_000, intervalMs: 500 });
  if (!output.includes("OpenClaw Cloud is ready")) throw new Error(`npm run dev did not get ready:\n${output.slice(-4000)}`);
  browser = await launch();
  page = await browser.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(`${m.text()} (${m.location().url})`));
  page.on("request", (r) => urls.push(r.url()));
}, 500_000);

afterAll(async () => {
  await browser?.close();
  // A failed test must not leave the platform running: Ctrl-C, then the hard way.
  if (dev?.exitCode === null && dev.signalCode === null) {
    try {
      process.kill(-dev.pid!, "SIGINT");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
      process.kill(-dev.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const id of devContainers(false)) execFileSync("docker", ["rm", "-f", id], { stdio: "ignore" });
  rmSync(runDir, { recursive: true, force: true });
}, 120_000);

describe("npm run dev, as the README says", () => {
  it("a newcomer signs up, pays, watches the agent come up and gets an answer from real OpenClaw", async () => {
    expect(output).toContain(`Dashboard + site   ${base}`);

    const link = await signUpInBrowser(page, base, email, password);
    const paidAt = await payForStarterInBrowser(page, base);
    await page.getByTestId("agent-status").filter({ hasText: "Running" }).waitFor({ timeout: 180_000 });
    const payToRunning = Date.now() - paidAt;

    const words = "Hello from my first ten minutes";
    await page.getByLabel("Message").fill(words);
    const sentAt = Date.now();
    await page.getByRole("button", { name: "Send" }).click();
    const reply = page.getByTestId("reply").first();
    await reply.waitFor({ timeout: 120_000 });
    const messageToAnswer = Date.now() - sentAt;
    // The DEV stand-in echoes what the person wrote, not the agent's runtime context.
    expect(await reply.textContent()).toContain(`[dev stand-in] You said: ${words}`);
    console.log(`[dev-start] pay → running ${(payToRunning / 1000).toFixed(1)} s; message → answer ${(messageToAnswer / 1000).toFixed(1)} s`);

    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
    // The mailed confirmation link carries its one-time token by design; nothing else may carry a secret.
    const leaked = urls.filter((u) => u !== link && (u.includes(encodeURIComponent(password)) || u.includes(password) || /ocx_|token=|code=/.test(u)));
    expect(leaked).toEqual([]);
  }, 420_000);

  it("Ctrl-C stops everything it started: no process, no listening port, no running agent is left", async () => {
    const { edge, pg, bridge, s3, llm, browserless, stripe } = DEV_START;
    const ports = [edge, pg, bridge, s3, llm, browserless, stripe];
    expect(await listening(PORT)).toBe(true); // positive control: it was running
    expect(devContainers(true).length).toBeGreaterThan(0);
    process.kill(-dev.pid!, "SIGINT");
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("still running"), 90_000))]);
    expect(code, output.slice(-3000)).not.toBe("still running");
    expect(output).toContain("stopped");
    expect(
      await poll(
        async () => startedByDev(),
        (left) => left.length === 0,
        { timeoutMs: 5_000, intervalMs: 250 },
      ),
    ).toEqual([]);
    for (const p of ports) expect(await listening(p), `port ${p}`).toBe(false);
    expect(devContainers(true)).toEqual([]);
  }, 120_000);
});
