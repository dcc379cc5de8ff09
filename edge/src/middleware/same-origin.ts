import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { AppError } from "@oc/contracts/errors";
import type { HonoEnv } from "../hono-env";
import { sessionCookieName } from "../lib/cookies";

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * CSRF defence for every write that arrives with the session cookie (logout included): it must say it comes
 * from the app itself, by `Origin` equal to APP_URL's origin or, where a browser sends no Origin,
 * `Sec-Fetch-Site: same-origin`. SameSite=Lax alone is not enough: agent hosts and other subdomains are
 * "same-site", and a POST without a body passes the JSON check. A present but different Origin always loses
 * (also over a Sec-Fetch-Site that claims otherwise).
 *
 * Not cookie calls, so not checked: `Authorization: Bearer` (API keys; a cross-site page cannot set that
 * header without a CORS preflight this API never grants), /api/webhooks/* (Stripe signs them), and anything
 * without the cookie (node agents, the proxy, /hooks, which is outside /api anyway).
 *
 * The app's own server-side code (SvelteKit load functions and form actions, in this same Worker) calls the
 * API in-process with the visitor's cookie: it must set `Origin` to APP_URL's origin on those requests. That
 * is sound because SvelteKit has already checked the visitor's own form POST against the app's origin
 * (kit.csrf.checkOrigin, on by default) before the action runs.
 */
export const requireSameOrigin = () =>
  createMiddleware<HonoEnv>(async (c, next) => {
    if (!UNSAFE.has(c.req.method) || c.req.path.startsWith("/api/webhooks/") || /^Bearer\s/i.test(c.req.header("authorization") ?? "")) return next();
    const env = c.get("services").env;
    if (getCookie(c, sessionCookieName(env)) === undefined) return next();
    const origin = c.req.header("origin");
    const sameOrigin = origin !== undefined ? origin === new URL(env.APP_URL).origin : c.req.header("sec-fetch-site") === "same-origin";
    if (!sameOrigin)
      throw new AppError(
        "CROSS_SITE_REQUEST",
        `Refused: a signed-in change must come from ${new URL(env.APP_URL).origin} itself (Origin or Sec-Fetch-Site: same-origin).`,
      );
    await next();
  });
