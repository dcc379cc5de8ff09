import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext } from "playwright-core";

const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const args = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/**
 * Every browser the suites open is a visitor of its own: wrangler dev sees all of them on 127.0.0.1, and the
 * edge's per-address limits on sign-up and sign-in (20 a minute) would otherwise count every suite's visitors
 * as one. The edge reads the client address from cf-connecting-ip, as Cloudflare sets it in production.
 */
export const visitor = () => ({
  "cf-connecting-ip": `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`,
});

/** Debian's Chromium, headless, with the background networking this offline machine refuses turned off. */
export async function launch(): Promise<BrowserContext> {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "oc-chrome-")), {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args,
    extraHTTPHeaders: visitor(),
  });
}

/** The same Chromium as a browser that opens separate contexts (e.g. one with JavaScript turned off). */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args });
}
