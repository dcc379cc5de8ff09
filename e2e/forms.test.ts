import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { totpCode } from "../edge/test/totp";
import { outboxLink } from "../test-harness/accounts";
import { launchBrowser, visitor } from "../test-harness/browser";

/**
 * Every form that carries a credential or changes state, submitted in a real browser with JavaScript turned
 * off (the forms post to SvelteKit form actions) and again with it on (the same forms, enhanced): sign-up,
 * email confirmation, the Security Center (devices, API keys, two-factor on and off), sign-out, sign-in with
 * the 2FA step, forgotten and reset password. Every request URL the browser made is recorded: none may carry
 * a password, a code, a token or a 2FA challenge. The mail links themselves (which must carry their token)
 * are the only exception, and their token must not show up in any other URL.
 */
const base = inject("baseUrl");
let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => browser?.close());

/** The mailed link, on the origin this browser uses (the mail names APP_URL's). */
const mailLink = async (_page: Page, to: string, path: string) => (await outboxLink(base, to, path)).replace(/^https?:\/\/[^/]+/, base);

describe.each([
  { js: false, label: "without JavaScript" },
  { js: true, label: "with JavaScript" },
])("forms $label", ({ js }) => {
  let context: BrowserContext;
  let page: Page;
  const urls: string[] = [];
  /** Forms posted as whole-page loads: all of them without JavaScript, none (but sign-out) with it. */
  const pagePosts: string[] = [];
  const problems: string[] = [];
  const secrets: string[] = [];
  const mailLinks: string[] = [];
  const email = `forms-${js ? "js" : "nojs"}-${Date.now()}@example.com`;
  const password = `first-password-${Date.now()}`;
  const newPassword = `second-password-${Date.now()}`;
  secrets.push(password, newPassword);

  beforeAll(async () => {
    context = await browser.newContext({ javaScriptEnabled: js, viewport: { width: 1280, height: 900 }, extraHTTPHeaders: visitor() });
    context.on("request", (r) => {
      urls.push(r.url());
      if (r.isNavigationRequest() && r.method() === "POST" && new URL(r.url()).pathname !== "/logout") pagePosts.push(r.url());
    });
    page = await context.newPage();
    page.on("pageerror", (e) => problems.push(`${page.url()}: ${e.message}`));
    // Refused form posts answer 4xx on purpose (the browser logs that); anything else is a problem.
    page.on("console", (m) => m.type() === "error" && !/status of 4\d\d/.test(m.text()) && problems.push(`${page.url()}: ${m.text()}`));
  });
  afterAll(async () => context?.close());
  /** With JavaScript, a click before hydration is lost or posts natively: every whole-page load waits for it. */
  const settled = async () => {
    if (js) await page.locator("html[data-hydrated]").waitFor();
  };

  it("signs up, confirms the email, and lands on the dashboard", async () => {
    await page.goto(`${base}/signup`);
    await settled(); // enhanced posts are what this run checks
    await page.getByLabel("Your name").fill("Form Tester");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password (10+ characters)").fill("short");
    await page.getByRole("button", { name: "Create account" }).click();
    // The API's message comes back to the page, and what was typed (but the password) is still there.
    await page.getByRole("alert").filter({ hasText: "password" }).waitFor();
    expect(await page.getByLabel("Email").inputValue()).toBe(email);
    expect(await page.getByLabel("Password (10+ characters)").inputValue()).toBe("");
    await page.getByLabel("Password (10+ characters)").fill(password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL(`${base}/dashboard`);
    expect((await context.cookies()).some((c) => c.name === "oc_session" && c.httpOnly)).toBe(true);

    const link = await mailLink(page, email, "/verify-email");
    mailLinks.push(link);
    await page.goto(link);
    await settled();
    await page.getByRole("heading", { name: "Email confirmed" }).waitFor();
  });

  it("Security Center: signs out another device, creates and revokes an API key, turns on two-factor", async () => {
    // A second device signs in (outside this browser), and is signed out from the Security Center.
    const other = await fetch(`${base}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "Other Device/1.0" },
      body: JSON.stringify({ email, password }),
    });
    expect(other.status).toBe(200);
    await page.goto(`${base}/dashboard/security`);
    await settled();
    await page.getByRole("heading", { name: "Security Center", level: 1 }).waitFor();
    const otherRow = page.getByRole("row").filter({ hasText: "Other Device/1.0" });
    await otherRow.getByRole("button", { name: "Sign out" }).click();
    await otherRow.waitFor({ state: "detached" });
    const me = await fetch(`${base}/api/auth/me`, { headers: { cookie: other.headers.getSetCookie()[0]!.split(";")[0]! } });
    expect(me.status).toBe(401); // that device's session is really gone

    await page.getByLabel("Name").fill("laptop script");
    await page.getByRole("button", { name: "Create key" }).click();
    const key = (await page.getByTestId("new-key").textContent())!;
    expect(key).toMatch(/^ocp_/);
    secrets.push(key);
    const keyRow = page.getByRole("row").filter({ hasText: "laptop script" });
    await keyRow.getByRole("button", { name: "Revoke" }).click();
    await page.getByText("No keys.").waitFor();
    expect((await fetch(`${base}/api/auth/me`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(401);

    await page.getByRole("button", { name: "Set up two-factor authentication" }).click();
    const secret = (await page.getByTestId("totp-secret").textContent())!;
    secrets.push(secret);
    await page.getByLabel("Code", { exact: true }).fill("000000" === totpCode(secret) ? "111111" : "000000");
    await page.getByRole("button", { name: "Turn on" }).click();
    // A wrong code keeps the same key on screen (the authenticator app already has it).
    await page.getByRole("alert").filter({ hasText: "That code is not right" }).waitFor();
    expect(await page.getByTestId("totp-secret").textContent()).toBe(secret);
    const code = totpCode(secret);
    secrets.push(code);
    await page.getByLabel("Code", { exact: true }).fill(code);
    await page.getByRole("button", { name: "Turn on" }).click();
    const recovery = (await page.getByTestId("recovery-codes").textContent())!.split("\n");
    expect(recovery).toHaveLength(10);
    secrets.push(...recovery);
    await page.getByText("On. Sign-ins ask for a code").waitFor();
    (globalThis as Record<string, unknown>)[`secret-${email}`] = { secret, recovery };
  });

  it("signs out, then in again through the 2FA step, then turns two-factor off", async () => {
    const { secret, recovery } = (globalThis as Record<string, unknown>)[`secret-${email}`] as { secret: string; recovery: string[] };
    await page.getByRole("banner").getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${base}/login`);
    await settled();
    expect((await context.cookies()).some((c) => c.name === "oc_session")).toBe(false);

    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${base}/login/2fa`); // the challenge travels in a cookie, not the URL
    await settled();
    await page.getByLabel(/Code from your authenticator app/).fill("123456" === totpCode(secret, 1) ? "654321" : "123456");
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByRole("alert").filter({ hasText: "That code is not right" }).waitFor();
    // The next 30-second step: the one that turned 2FA on may not be used twice.
    const code = totpCode(secret, 1);
    secrets.push(code);
    await page.getByLabel(/Code from your authenticator app/).fill(code);
    await page.getByRole("button", { name: "Verify" }).click();
    await page.waitForURL(`${base}/dashboard`);

    await page.goto(`${base}/dashboard/security`);
    await settled();
    await page.getByLabel("Password", { exact: true }).fill(password);
    await page.getByLabel("Code to turn it off").fill(recovery[0]!);
    await page.getByRole("button", { name: "Turn off" }).click();
    await page.getByText("Off. Turn it on so a stolen password is not enough.").waitFor();
  });

  it("resets a forgotten password from the mail link, and signs in with the new one", async () => {
    await page.getByRole("banner").getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${base}/login`);
    await settled();
    await page.getByRole("link", { name: "Forgot your password?" }).click();
    // The sign-in page has an Email field too: fill only once the reset form has replaced it.
    await page.waitForURL(`${base}/forgot-password`);
    await page.getByRole("heading", { name: "Reset your password" }).waitFor();
    await settled();
    await page.getByLabel("Email").fill(email);
    await page.getByRole("button", { name: "Send reset link" }).click();
    await page.getByRole("status").filter({ hasText: "a reset link is on its way" }).waitFor();

    const link = await mailLink(page, email, "/reset-password");
    mailLinks.push(link);
    await page.goto(link);
    await settled();
    await page.waitForURL(`${base}/reset-password`); // the token left the address bar at once
    await settled();
    await page.getByLabel("New password (10+ characters)").fill(newPassword);
    await page.getByRole("button", { name: "Save password" }).click();
    await page.waitForURL(`${base}/login?reset=done`);
    await settled();
    await page.getByText("Your password is changed.").waitFor();
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(newPassword);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${base}/dashboard`);
  });

  it("no request URL carried a password, code, token or challenge", () => {
    expect(urls.length).toBeGreaterThan(20);
    const tokens = mailLinks.map((l) => new URL(l).searchParams.get("token")!);
    const leaks = urls.filter((u) => {
      if (mailLinks.includes(u)) return false; // the mail link itself, opened as the user would
      const q = new URL(u).searchParams;
      return (
        ["password", "code", "token", "challenge", "email", "secret"].some((k) => q.has(k)) ||
        [...secrets, ...tokens].some((s) => u.includes(s) || u.includes(encodeURIComponent(s)))
      );
    });
    expect(leaks).toEqual([]);
    // The check can fail: the mail links do carry their token, and are in the record.
    expect(urls.filter((u) => tokens.some((t) => u.includes(t)))).toEqual(mailLinks);
    expect(problems).toEqual([]);
    // Without JavaScript the browser posted the forms itself; with it, use:enhance did (the page was hydrated).
    if (js) expect(pagePosts).toEqual([]);
    else expect(pagePosts.length).toBeGreaterThanOrEqual(10);
  });
});
