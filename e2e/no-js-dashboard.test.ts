import pg from "pg";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { signUpAndIn } from "../test-harness/accounts";
import { launchBrowser, visitor } from "../test-harness/browser";

/**
 * The dashboard is rendered on the server from its loads: with JavaScript turned off a signed-in user sees
 * the real data (Token Analytics' numbers, the personality, the protection settings) and its forms post to
 * form actions that save. The same pages with JavaScript (the positive control) show the same data, and
 * their forms save through use:enhance without a whole-page post.
 */
const base = inject("baseUrl");
const marker = `tea-${Date.now()}`;
const model = `usage-model-${Date.now()}`;
let browser: Browser;
let cookie: string;
let userId: string;

/** The API as the signed-in user (writes carry the app's Origin, as the dashboard's do). */
async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(`${base}/api${path}`, {
    method: init.method ?? "GET",
    headers: { cookie, origin: base, ...(init.body === undefined ? {} : { "content-type": "application/json" }) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

beforeAll(async () => {
  browser = await launchBrowser();
  const ip = visitor()["cf-connecting-ip"];
  ({ cookie, userId } = await signUpAndIn(base, `nojs-${Date.now()}@example.com`, "no-js-password", ip));
  // Data only this account has, so the pages can only show it if they loaded it for this user.
  await api("/agent/personality", { method: "PUT", body: { name: "Juniper", tone: "dry", language: "English", instructions: `Always offer ${marker}.` } });
  await api("/agent/protection", { method: "PUT", body: { loop: { maxRepeats: 7, windowSec: 90, maxCallsPerMessage: 33 } } });
  const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  await db.query(
    `INSERT INTO usage_records (id, user_id, model, provider, tier, input_tokens, output_tokens, cost_micros, price_micros, markup_bps, latency_ms, background)
     VALUES ($1, $2, $3, 'openai', 'simple', 1200, 34, 2000000, 2500000, 2500, 100, 'interactive')`,
    [`nojs-${Date.now()}`, userId, model],
  );
  await db.end();
});
afterAll(async () => browser?.close());

async function signedInPage(js: boolean): Promise<{ context: BrowserContext; page: Page; posts: string[] }> {
  const context = await browser.newContext({ javaScriptEnabled: js, extraHTTPHeaders: visitor() });
  const [name, value] = cookie.split("=") as [string, string];
  await context.addCookies([{ name, value, url: base, httpOnly: true, sameSite: "Lax" }]);
  const posts: string[] = [];
  context.on("request", (r) => r.isNavigationRequest() && r.method() === "POST" && posts.push(new URL(r.url()).pathname + new URL(r.url()).search));
  return { context, page: await context.newPage(), posts };
}

/** What each page must show: the numbers and settings the API holds for this account. */
async function expectRealData(page: Page, js: boolean) {
  const usage = await api<{ totals: { calls: number; tokens: number } }>("/usage?days=30");
  expect(usage.totals).toMatchObject({ calls: 1, tokens: 1234 });
  const open = async (path: string) => {
    await page.goto(`${base}${path}`);
    if (js) await page.locator("html[data-hydrated]").waitFor();
  };
  await open("/dashboard/usage");
  expect(await page.getByTestId("calls").textContent()).toBe("1");
  expect(await page.getByTestId("spent").textContent()).toBe("$2.50");
  expect(await page.getByTestId("tokens").textContent()).toBe("1,234");
  await page.getByRole("row").filter({ hasText: model }).filter({ hasText: "1200 / 34" }).waitFor(); // Latest calls

  await open("/dashboard/personality");
  expect(await page.getByLabel("Name").inputValue()).toBe("Juniper");
  expect(await page.getByLabel("Instructions").inputValue()).toBe(`Always offer ${marker}.`);

  await open("/dashboard/protection");
  expect(await page.getByLabel("Same request at most").inputValue()).toBe("7");
  expect(await page.getByLabel("Model calls per message at most").inputValue()).toBe("33");
}

describe("the dashboard without JavaScript", () => {
  let s: Awaited<ReturnType<typeof signedInPage>>;
  beforeAll(async () => {
    s = await signedInPage(false);
  });
  afterAll(async () => s?.context.close());

  it("shows each page's real data, rendered on the server", async () => {
    await expectRealData(s.page, false);
    expect(await s.page.locator("html[data-hydrated]").count()).toBe(0); // no script ran
  });

  it("saves the personality and the protection settings through form posts, and shows a refusal", async () => {
    await s.page.goto(`${base}/dashboard/personality`);
    await s.page.getByLabel("Name").fill("Juniper Two");
    await s.page.getByRole("button", { name: "Save" }).click();
    await s.page.getByRole("status").filter({ hasText: "Saved." }).waitFor();
    expect((await api<{ name: string }>("/agent/personality")).name).toBe("Juniper Two");
    expect(await s.page.getByLabel("Name").inputValue()).toBe("Juniper Two"); // the answer page shows the saved value

    await s.page.goto(`${base}/dashboard/protection`);
    await s.page.getByLabel("Same request at most").fill("9");
    await s.page.getByRole("button", { name: "Save" }).click();
    await s.page.getByRole("status").filter({ hasText: "Saved." }).waitFor();
    expect((await api<{ loop: { maxRepeats: number } }>("/agent/protection")).loop.maxRepeats).toBe(9);

    // The API's refusal reaches the page with its message, its code and the request id.
    await s.page.getByLabel("Time zone").fill("Mars/Olympus_Mons");
    await s.page.getByRole("button", { name: "Save" }).click();
    const alert = s.page.getByRole("alert").filter({ hasText: 'Unknown time zone "Mars/Olympus_Mons"' });
    await alert.waitFor();
    expect(await alert.getAttribute("data-code")).toBe("VALIDATION_FAILED");
    expect(await alert.textContent()).toMatch(/request \S+/);
    expect((await api<{ timezone: string }>("/agent/protection")).timezone).not.toBe("Mars/Olympus_Mons");

    expect(s.posts).toEqual(["/dashboard/personality?/save", "/dashboard/protection?/save", "/dashboard/protection?/save"]);
  });
});

describe("the dashboard with JavaScript (positive control)", () => {
  let s: Awaited<ReturnType<typeof signedInPage>>;
  beforeAll(async () => {
    s = await signedInPage(true);
  });
  afterAll(async () => s?.context.close());

  it("shows the same data, and its forms save without a whole-page post", async () => {
    await api("/agent/personality", { method: "PUT", body: { name: "Juniper", tone: "dry", language: "English", instructions: `Always offer ${marker}.` } });
    await api("/agent/protection", { method: "PUT", body: { loop: { maxRepeats: 7, windowSec: 90, maxCallsPerMessage: 33 } } });
    await expectRealData(s.page, true);

    await s.page.goto(`${base}/dashboard/personality`);
    await s.page.locator("html[data-hydrated]").waitFor();
    await s.page.getByLabel("Tone").fill("warm");
    await s.page.getByRole("button", { name: "Save" }).click();
    await s.page.getByRole("status").filter({ hasText: "Saved." }).waitFor();
    expect((await api<{ tone: string }>("/agent/personality")).tone).toBe("warm");
    expect(await s.page.getByLabel("Tone").inputValue()).toBe("warm");
    expect(s.posts).toEqual([]); // use:enhance posted it
  });
});
