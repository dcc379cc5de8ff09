import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import type { App } from "../app";
import { errorResponses } from "../errors";
import type { HonoEnv } from "../hono-env";
import { clearSessionCookie, sessionCookieName, setSessionCookie } from "../lib/cookies";
import { rateLimit } from "../middleware/rate-limit";
import { requireUser } from "../middleware/auth";
import * as accounts from "../services/accounts";
import { findSession, revokeSession } from "../services/sessions";
import { verifyLoginChallenge } from "../services/two-factor";
import { body, email, json, ok, password, publicUser, toPublicUser } from "./schemas";

const loginResult = z
  .union([z.object({ status: z.literal("signed_in"), userId: z.string() }), z.object({ status: z.literal("two_factor_required"), challenge: z.string() })])
  .openapi("LoginResult");

const signupRoute = createRoute({
  method: "post",
  path: "/auth/signup",
  tags: ["auth"],
  middleware: [rateLimit("signup")] as const,
  request: body(z.object({ email, password, name: z.string().min(1).max(100).optional(), referralCode: z.string().max(40).optional() })),
  description:
    "Answers the same whether or not the address already has an account, and signs no one in: a new address gets a verification mail, a known one a note to its owner. Sign in with POST /auth/login next.",
  responses: { 202: json(z.object({ status: z.literal("check_inbox") }), "Check your inbox"), ...errorResponses },
});

const loginRoute = createRoute({
  method: "post",
  path: "/auth/login",
  tags: ["auth"],
  middleware: [rateLimit("login")] as const,
  request: body(z.object({ email, password: z.string().min(1).max(200) })),
  responses: { 200: json(loginResult), ...errorResponses },
});

const twoFactorRoute = createRoute({
  method: "post",
  path: "/auth/2fa/verify",
  tags: ["auth"],
  middleware: [rateLimit("2fa")] as const,
  request: body(z.object({ challenge: z.string().min(10).max(200), code: z.string().min(6).max(40) })),
  responses: { 200: json(loginResult), ...errorResponses },
});

const logoutRoute = createRoute({
  method: "post",
  path: "/auth/logout",
  tags: ["auth"],
  responses: { 200: json(ok) },
});

const verifyEmailRoute = createRoute({
  method: "post",
  path: "/auth/verify-email",
  tags: ["auth"],
  middleware: [rateLimit("verify")] as const,
  request: body(z.object({ token: z.string().min(10).max(200) })),
  responses: { 200: json(ok), ...errorResponses },
});

const resendVerificationRoute = createRoute({
  method: "post",
  path: "/auth/verify-email/resend",
  tags: ["auth"],
  middleware: [requireUser(), rateLimit("verify-resend")] as const,
  responses: { 200: json(ok), ...errorResponses },
});

const forgotRoute = createRoute({
  method: "post",
  path: "/auth/password/forgot",
  tags: ["auth"],
  middleware: [rateLimit("forgot")] as const,
  request: body(z.object({ email })),
  responses: { 200: json(ok, "Sent if the account exists"), ...errorResponses },
});

const resetRoute = createRoute({
  method: "post",
  path: "/auth/password/reset",
  tags: ["auth"],
  middleware: [rateLimit("reset")] as const,
  request: body(z.object({ token: z.string().min(10).max(200), password })),
  responses: { 200: json(ok), ...errorResponses },
});

const meRoute = createRoute({
  method: "get",
  path: "/auth/me",
  tags: ["auth"],
  middleware: [requireUser()] as const,
  responses: { 200: json(z.object({ user: publicUser })), ...errorResponses },
});

function signedIn(c: Context<HonoEnv>, result: accounts.LoginResult) {
  if (result.kind === "two_factor") return { status: "two_factor_required" as const, challenge: result.challenge };
  setSessionCookie(c, c.get("services").env, result.session.token, result.session.expiresAt);
  return { status: "signed_in" as const, userId: result.userId };
}

export function registerAuthRoutes(app: App) {
  app.openapi(signupRoute, async (c) => {
    await accounts.signup(c.get("services"), c.req.valid("json"), c.get("meta"));
    return c.json({ status: "check_inbox" as const }, 202);
  });

  app.openapi(loginRoute, async (c) => {
    const { email, password } = c.req.valid("json");
    return c.json(signedIn(c, await accounts.login(c.get("services"), email, password, c.get("meta"))), 200);
  });

  app.openapi(twoFactorRoute, async (c) => {
    const { challenge, code } = c.req.valid("json");
    const result = await verifyLoginChallenge(c.get("services"), challenge, code, c.get("meta"));
    return c.json(signedIn(c, { kind: "session", ...result }), 200);
  });

  app.openapi(logoutRoute, async (c) => {
    const s = c.get("services");
    const token = getCookie(c, sessionCookieName(s.env));
    const found = token ? await findSession(s, token) : undefined;
    if (found) await revokeSession(s, found.user.id, found.sessionId);
    clearSessionCookie(c, s.env);
    return c.json({ ok: true as const }, 200);
  });

  app.openapi(verifyEmailRoute, async (c) => {
    await accounts.verifyEmail(c.get("services"), c.req.valid("json").token);
    return c.json({ ok: true as const }, 200);
  });

  app.openapi(resendVerificationRoute, async (c) => {
    const user = c.get("user");
    if (!user.emailVerifiedAt) await accounts.sendVerification(c.get("services"), user.id, user.email);
    return c.json({ ok: true as const }, 200);
  });

  app.openapi(forgotRoute, async (c) => {
    await accounts.requestPasswordReset(c.get("services"), c.req.valid("json").email, c.get("meta"));
    return c.json({ ok: true as const }, 200);
  });

  app.openapi(resetRoute, async (c) => {
    const { token, password } = c.req.valid("json");
    await accounts.resetPassword(c.get("services"), token, password, c.get("meta"));
    return c.json({ ok: true as const }, 200);
  });

  app.openapi(meRoute, (c) => c.json({ user: toPublicUser(c.get("user")) }, 200));
}
