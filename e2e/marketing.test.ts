import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { PLANS, TOKEN_PACKS } from "@oc/contracts/plans";
import { launchBrowser, visitor } from "../test-harness/browser";

/**
 * The public site: every marketing page (and sign-up / sign-in) answers 200 to a visitor without a cookie,
 * shows the prices of contracts/src/plans.ts, fits a phone screen, and passes axe-core's WCAG 2.1 A/AA and
 * best-practice rules with no serious or critical violation, at 1280 and 390 px wide.
 */
const base = inject("baseUrl");
const PUBLIC = ["/", "/pricing", "/features", "/faq", "/terms", "/privacy", "/signup", "/login"];
const WIDTHS = [1280, 390];
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
let browser: Browser;

type Violation = { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] };
async function axe(page: Page): Promise<Violation[]> {
  await page.addScriptTag({ content: axeSource });
  // Evaluated as source text: this file is type-checked without the DOM library.
  const result = (await page.evaluate(
    `axe.run({ runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] } })`,
  )) as { violations: Violation[] };
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}
const describeViolations = (vs: Violation[]) => vs.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(", ")}`);

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => browser?.close());

describe("the public site", () => {
  it("answers 200 on every page without a cookie", async () => {
    for (const path of PUBLIC) {
      const res = await fetch(`${base}${path}`, { redirect: "manual" });
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type"), path).toMatch(/text\/html/);
      expect(res.headers.getSetCookie(), path).toEqual([]); // nothing is tracked or set for a visitor
    }
  });

  it("shows every plan's price, included tokens and memory, and the token packs, from contracts/src/plans.ts", async () => {
    const html = (await (await fetch(`${base}/pricing`)).text()).replace(/<!--[^]*?-->/g, ""); // without hydration markers
    for (const p of PLANS) {
      expect(html).toContain(`$${p.priceCents / 100}`);
      expect(html).toMatch(new RegExp(`<td[^>]*>\\$${p.includedMicros / 1_000_000}</td>`)); // AI tokens included each month
      expect(html).toContain(`${p.ramMb / 1024} GB`);
      for (const f of p.features) expect(html).toContain(f);
    }
    for (const pack of TOKEN_PACKS) expect(html).toContain(pack.name);
    const landing = await (await fetch(`${base}/`)).text();
    for (const p of PLANS) expect(landing).toContain(`$${p.priceCents / 100}`);
  });

  for (const width of WIDTHS) {
    it(`passes axe-core with no serious or critical violation and fits the screen at ${width} px`, async () => {
      const context = await browser.newContext({ viewport: { width, height: 900 }, extraHTTPHeaders: visitor() });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      try {
        for (const path of PUBLIC) {
          await page.goto(`${base}${path}`);
          await page.getByRole("heading", { level: 1 }).first().waitFor();
          // Folded FAQ answers are checked too.
          await page.evaluate(`document.querySelectorAll("details").forEach((d) => (d.open = true))`);
          expect(describeViolations(await axe(page)), `${path} at ${width}px`).toEqual([]);
          expect(await page.getByRole("heading", { level: 1 }).count(), `${path}: one h1`).toBe(1);
          expect(await page.getByRole("main").count(), `${path}: one main landmark`).toBe(1);
          const overflow = (await page.evaluate(`document.documentElement.scrollWidth - document.documentElement.clientWidth`)) as number;
          expect(overflow, `${path} scrolls sideways at ${width}px`).toBeLessThanOrEqual(0);
        }
        expect(errors).toEqual([]);
      } finally {
        await context.close();
      }
    });
  }

  it("the accessibility check can fail: an unlabeled field and low-contrast text are caught", async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/signup`);
    // Added outside the app's root element, so hydration (whenever it runs) leaves them in place.
    await page.evaluate(
      `document.body.insertAdjacentHTML("beforeend", '<div><input id="unlabeled"><p style="color:#ddd;background:#fff">Hard to read</p></div>')`,
    );
    const ids = (await axe(page)).map((v) => v.id);
    expect(ids).toContain("label");
    expect(ids).toContain("color-contrast");
    await page.close();
  });
});
