import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { BrowserContext, Page } from "playwright-core";
import { outboxLink } from "../test-harness/accounts";
import { launch } from "../test-harness/browser";

const base = inject("baseUrl");
let browser: BrowserContext;
let page: Page;
const email = `e2e-${Date.now()}@example.com`;
const password = "e2e-password-123";

beforeAll(async () => {
  browser = await launch();
  page = await browser.newPage();
});
afterAll(async () => browser?.close());

describe("the dashboard shell in a real browser", () => {
  it("signs up from the landing page and lands on the dashboard with all 17 pages", async () => {
    await page.goto(base);
    await expect(page.title()).resolves.toContain("OpenClaw Cloud");
    await page.getByRole("link", { name: "Create my agent" }).first().click();
    await page.getByLabel("Your name").fill("E2E Person");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password (10+ characters)").fill(password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL(`${base}/dashboard`);
    await page.getByRole("heading", { name: "Agent Control Center" }).waitFor();
    const nav = page.getByRole("navigation", { name: "Dashboard" }).getByRole("link");
    expect(await nav.count()).toBe(17);
    expect(await page.getByText("please confirm your email").count()).toBe(1);
  });

  it("confirms the email from the link in the mail", async () => {
    await page.goto(await outboxLink(base, email, "/verify-email"));
    await page.getByRole("heading", { name: "Email confirmed" }).waitFor();
    await page.getByRole("link", { name: "Go to your dashboard" }).click();
    await page.getByRole("heading", { name: "Agent Control Center" }).waitFor();
    expect(await page.getByText("please confirm your email").count()).toBe(0);
  });

  it("navigates between pages, signs out, and shows a clear error for a wrong password", async () => {
    await page.getByRole("link", { name: "Token Analytics" }).click();
    await page.waitForURL(`${base}/dashboard/usage`);
    await page.getByRole("heading", { name: "Token Analytics" }).waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${base}/login`);

    await page.goto(`${base}/dashboard/security`);
    await page.waitForURL(`${base}/login`); // signed out: the dashboard sends you to sign in

    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("not-my-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert").textContent()).resolves.toContain("Email or password is wrong");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${base}/dashboard`);
  });
});
