import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext } from "playwright-core";

const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

/** Debian's Chromium, headless, with the background networking this offline machine refuses turned off. */
export async function launch(): Promise<BrowserContext> {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "oc-chrome-")), { executablePath, headless: true, viewport: { width: 1280, height: 800 }, args });
}

/** The same Chromium as a browser that opens separate contexts (e.g. one with JavaScript turned off). */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args });
}
