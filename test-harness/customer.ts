import type { Page } from "playwright-core";

/**
 * The first minutes of a customer in a real browser, shared by the journey against the shared edge and by
 * the README's `npm run dev` check: the same clicks, so both prove the same path.
 */

/** Signs up on /signup, lands on the dashboard, opens the confirmation link from the dev outbox; returns that link. */
export async function signUpInBrowser(page: Page, base: string, email: string, password: string): Promise<string> {
  await page.goto(`${base}/signup`);
  await page.locator("html[data-hydrated]").waitFor(); // the enhanced form, not a click during hydration
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password (10+ characters)").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(`${base}/dashboard`);
  const outbox = (await (await page.request.get(`${base}/api/dev/outbox`)).json()) as { emails: { to: string; text: string }[] };
  const link = outbox.emails.find((m) => m.to === email)!.text.match(/https?:\/\/\S+verify-email\S*/)![0];
  await page.goto(link);
  await page.getByRole("heading", { name: "Email confirmed" }).waitFor();
  return link;
}

/**
 * From the Control Center (no plan yet) to Billing, Starter, the stand-in's Checkout page and its "Pay (test
 * card)" button, back on the Control Center. Returns when the payment was made (for the pay → running time).
 */
export async function payForStarterInBrowser(page: Page, base: string): Promise<number> {
  await page.goto(`${base}/dashboard`);
  await page.getByRole("link", { name: "Choose a plan to start your agent" }).click();
  await page.waitForURL(`${base}/dashboard/billing`);
  await page.getByRole("button", { name: "Choose Starter" }).click();
  await page.getByRole("heading", { name: "Pay $12.00" }).waitFor(); // the Checkout page
  const paidAt = Date.now();
  await page.getByRole("button", { name: "Pay (test card)" }).click();
  await page.waitForURL(`${base}/dashboard?checkout=success`);
  return paidAt;
}
