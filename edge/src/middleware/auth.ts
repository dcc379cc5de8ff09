import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { AppError } from "../../../contracts/src/errors";
import type { HonoEnv } from "../hono-env";
import { authenticateApiKey } from "../services/api-keys";
import { findSession } from "../services/sessions";
import { sessionCookieName } from "../lib/cookies";

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Authenticates by session cookie or `Authorization: Bearer ocp_…` API key. Cookie-authenticated writes
 * must come from our own origin (CSRF defence on top of SameSite=Lax).
 */
export const requireUser = () =>
  createMiddleware<HonoEnv>(async (c, next) => {
    const s = c.get("services");
    const bearer = c.req.header("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
    if (bearer) {
      const user = await authenticateApiKey(s, bearer);
      if (!user) throw new AppError("UNAUTHORIZED", "This API key is not valid.");
      c.set("user", user);
      return next();
    }
    const token = getCookie(c, sessionCookieName(s.env));
    const found = token ? await findSession(s, token) : undefined;
    if (!found) throw new AppError("UNAUTHORIZED", "Please sign in.");
    if (UNSAFE.has(c.req.method)) {
      const origin = c.req.header("origin");
      if (origin && origin !== new URL(s.env.APP_URL).origin) throw new AppError("FORBIDDEN", "Cross-site request refused.");
    }
    c.set("user", found.user);
    c.set("sessionId", found.sessionId);
    await next();
  });

export const requireAdmin = () =>
  createMiddleware<HonoEnv>(async (c, next) => {
    if (c.get("user").role !== "admin") throw new AppError("FORBIDDEN", "Operators only.");
    await next();
  });
