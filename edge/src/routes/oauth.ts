import { createRoute, z } from "@hono/zod-openapi";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { AppError } from "@oc/contracts/errors";
import type { App } from "../app";
import { errorResponses } from "../errors";
import { timingSafeEqual } from "@oc/contracts/crypto";
import { setSessionCookie } from "../lib/cookies";
import { rateLimit } from "../middleware/rate-limit";
import { finishGoogleLogin, startGoogleLogin } from "../services/oauth-google";

/** The OAuth state and PKCE verifier ride in short-lived HttpOnly cookies bound to this browser. */
const STATE_COOKIE = "oc_oauth_state";
const VERIFIER_COOKIE = "oc_oauth_verifier";

const startRoute = createRoute({
  method: "get",
  path: "/auth/google",
  tags: ["auth"],
  middleware: [rateLimit("oauth")] as const,
  responses: { 302: { description: "Redirect to Google" }, ...errorResponses },
});
const callbackRoute = createRoute({
  method: "get",
  path: "/auth/google/callback",
  tags: ["auth"],
  middleware: [rateLimit("oauth")] as const,
  request: { query: z.object({ code: z.string().min(1).max(2000), state: z.string().min(1).max(200) }) },
  responses: { 302: { description: "Signed in; redirect to the dashboard (or the 2FA step)" }, ...errorResponses },
});

export function registerOAuthRoutes(app: App) {
  app.openapi(startRoute, (c) => {
    const s = c.get("services");
    const { url, state, codeVerifier } = startGoogleLogin(s);
    const opts = { httpOnly: true, secure: s.env.ENVIRONMENT === "production", sameSite: "Lax" as const, path: "/api/auth/google", maxAge: 600 };
    setCookie(c, STATE_COOKIE, state, opts);
    setCookie(c, VERIFIER_COOKIE, codeVerifier, opts);
    return c.redirect(url, 302);
  });

  app.openapi(callbackRoute, async (c) => {
    const s = c.get("services");
    const { code, state } = c.req.valid("query");
    const expected = getCookie(c, STATE_COOKIE);
    const verifier = getCookie(c, VERIFIER_COOKIE);
    deleteCookie(c, STATE_COOKIE, { path: "/api/auth/google" });
    deleteCookie(c, VERIFIER_COOKIE, { path: "/api/auth/google" });
    if (!expected || !verifier || !timingSafeEqual(expected, state))
      throw new AppError("OAUTH_FAILED", "This sign-in link expired or was not started in this browser. Please try again.");
    const result = await finishGoogleLogin(s, code, verifier, c.get("meta"));
    if (result.kind === "two_factor") return c.redirect(`/login/2fa?challenge=${encodeURIComponent(result.challenge)}`, 302);
    setSessionCookie(c, s.env, result.session.token, result.session.expiresAt);
    return c.redirect("/dashboard", 302);
  });
}
