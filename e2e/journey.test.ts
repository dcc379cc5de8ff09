import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { NodeAgent } from "../node-agent/src/edge-link";
import type { AgentRuntime } from "../node-agent/src/agent-lifecycle";
import { DockerodeClient } from "../node-agent/src/dockerode-client";
import { localRuntime } from "../node-agent/test/local-runtime";
import { launch } from "../test-harness/browser";
import { payForStarterInBrowser, signUpInBrowser } from "../test-harness/customer";
import { poll } from "../test-harness/poll";

/**
 * The main customer journey in a real browser (Debian's Chromium): sign up, confirm the email, pay on the
 * (stand-in) Stripe Checkout page, watch the agent being set up live on the Control Center, send it a
 * message (a real OpenClaw container on a real node answers through the metering proxy), and see that
 * usage on Token Analytics.
 */
const base = inject("baseUrl");
const shots = process.env.SCREENSHOT_DIR ?? "screenshots";
const email = `journey-${Date.now()}@example.com`;
const nodeId = `node_journey_${randomBytes(4).toString("hex")}`;
const secret = randomBytes(32).toString("base64url");
let browser: BrowserContext;
let page: Page;
let agent: NodeAgent;
let runtime: AgentRuntime;
let closeStore: () => Promise<void>;
const errors: string[] = [];

beforeAll(async () => {
  const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  await db.query("INSERT INTO nodes (id, name, status, secret_hash) VALUES ($1, 'journey node', 'active', $2)", [
    nodeId,
    createHash("sha256").update(secret).digest("hex"),
  ]);
  await db.end();
  ({ runtime, close: closeStore } = await localRuntime());
  agent = new NodeAgent({ edgeUrl: base.replace("localhost", "127.0.0.1"), nodeId, secret, docker: new DockerodeClient(), runtime, log: () => {} });
  agent.start();
  browser = await launch();
  page = await browser.newPage();
  page.on("pageerror", (e) => errors.push(e.message));
}, 60_000);

afterAll(async () => {
  agent?.stop();
  await browser?.close();
  const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  const { rows } = await db.query("SELECT id FROM users WHERE email = $1", [email]);
  await db.query("UPDATE nodes SET status = 'retired' WHERE id = $1", [nodeId]);
  await db.end();
  if (rows[0]) await runtime?.remove(rows[0].id, { deleteState: true }).catch(() => {});
  await closeStore?.();
});

describe("the customer journey", () => {
  it("sign up → confirm email → pay → agent set up live → message answered → usage on Token Analytics", async () => {
    await signUpInBrowser(page, base, email, "journey-password-1");
    // No plan yet: the Control Center sends the user to choose one. Back from Checkout the customer lands on
    // the Control Center, which follows provisioning live (server-sent events) until the agent runs.
    await payForStarterInBrowser(page, base);
    await page.getByTestId("paid-notice").getByText("Payment received").waitFor();
    await page.getByTestId("agent-status").filter({ hasText: "Running" }).waitFor({ timeout: 120_000 });
    await page.screenshot({ path: `${shots}/journey-ready.png`, fullPage: true });

    await page.getByLabel("Message").fill("Hello agent, please remember that I like tea.");
    await page.getByRole("button", { name: "Send" }).click();
    const reply = page.getByTestId("reply").first();
    await reply.waitFor({ timeout: 120_000 });
    expect(await reply.textContent()).toContain("[dev stand-in]");

    // The agent's model calls went through the metering proxy: Token Analytics shows them.
    let calls = 0;
    for (let i = 0; i < 30 && calls === 0; i++) {
      await page.goto(`${base}/dashboard/usage`);
      calls = Number(await page.getByTestId("calls").textContent());
      if (calls === 0) await page.waitForTimeout(500); // usage records reach Postgres a moment after the call
    }
    expect(calls).toBeGreaterThan(0);
    expect(await page.getByTestId("spent").textContent()).toMatch(/^\$0\.\d+/);
    await page.getByRole("figure", { name: "USD spent per day, last 30 days" }).locator("svg").first().waitFor();
    await page.screenshot({ path: `${shots}/journey-usage.png`, fullPage: true });

    // Memory Manager: what the user asks the agent to remember lands in its own MEMORY.md, and is found by meaning.
    await page.goto(`${base}/dashboard/memory`);
    await page.getByLabel("Tell your agent something to remember").fill("My sister Ada's birthday is on 3 March");
    await page.getByRole("button", { name: "Remember" }).click();
    await page.getByText("Remembered. Your agent has it now.").waitFor();
    await page.getByText("- My sister Ada's birthday is on 3 March").waitFor(); // the MEMORY.md section
    await page.getByLabel("Search by meaning").fill("My sister Ada's birthday");
    await page.getByRole("button", { name: "Search" }).click();
    await page
      .getByText(/match \d+%/)
      .first()
      .waitFor();

    // File Manager: the agent's workspace on its node, with the persona and memory files.
    await page.goto(`${base}/dashboard/files`);
    await page.getByRole("button", { name: "MEMORY.md" }).click();
    await page.getByText("Things my owner asked me to remember").waitFor();
    await page.screenshot({ path: `${shots}/journey-files.png`, fullPage: true });

    // Cron Scheduler: a task created here lives in OpenClaw's own schedule (its CLI, in the container).
    await page.goto(`${base}/dashboard/cron`);
    await page
      .getByRole("heading", { name: "New task" })
      .waitFor()
      .catch(async (e) => {
        const st = await (await page.request.get(`${base}/api/agent/status`)).json();
        throw new Error(`${e.message}\npage says: ${(await page.locator("main").textContent())?.slice(0, 300)}\nstatus: ${JSON.stringify(st).slice(0, 1500)}`);
      });
    await page.getByLabel("Name").fill("Morning summary");
    await page.getByLabel("What should your agent do?").fill("Summarise my day");
    await page.getByRole("button", { name: "Add task" }).click();
    const row = page.getByRole("row").filter({ hasText: "Morning summary" });
    await row.waitFor({ timeout: 60_000 });
    expect(await row.textContent()).toContain("0 8 * * *");
    await page.screenshot({ path: `${shots}/journey-cron.png`, fullPage: true });
    await row.getByRole("button", { name: "Delete" }).click();
    await row.waitFor({ state: "detached", timeout: 60_000 });

    // Browser Agent Viewer: the owner turns the browser on (the agent restarts with it in its config), the
    // agent's real OpenClaw opens a tab through the edge's CDP relay into its Browserless session, and the
    // owner sees that tab.
    await page.goto(`${base}/dashboard/browser`);
    await page.getByRole("button", { name: "Turn on the browser" }).click();
    await page.getByText("Browser on").waitFor();
    const status = () => page.request.get(`${base}/api/agent/status`).then((r) => r.json());
    // The PUT set the agent "starting" (restarting with new settings); it is ready again once OpenClaw is.
    expect((await poll(status, (st) => st.status === "ready", { timeoutMs: 90_000, intervalMs: 500 })).status).toBe("ready");
    const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    const { rows } = await db.query("SELECT id FROM users WHERE email = $1", [email]);
    await db.end();
    // No internet here, so the agent opens the platform's own pricing page: the edge's host is the one name
    // its browser policy trusts besides public hosts.
    const url = `${base.replace("localhost", "host.docker.internal")}/#pricing`;
    const open = await poll(
      () => new DockerodeClient().exec(`oc-${rows[0].id}`, ["openclaw", "browser", "--json", "open", url], { user: "1000:1000", timeoutMs: 60_000 }),
      (r) => r.exitCode === 0,
      { timeoutMs: 60_000, intervalMs: 2000 },
    );
    expect(open.exitCode, `${open.stdout}\n${open.stderr}`).toBe(0);
    const viewer = await poll(
      () => page.request.get(`${base}/api/agent/browser`).then((r) => r.json()),
      (b) => b.tabs?.some((t: { url: string }) => t.url === url),
      { timeoutMs: 20_000, intervalMs: 500 },
    );
    expect(
      viewer.tabs.map((t: { url: string }) => t.url),
      JSON.stringify(viewer),
    ).toContain(url);
    await page.getByRole("img", { name: /What your agent sees: OpenClaw Cloud/ }).waitFor({ timeout: 20_000 });
    await page.screenshot({ path: `${shots}/journey-browser.png`, fullPage: true });
    expect(errors).toEqual([]);
  }, 360_000);
});
