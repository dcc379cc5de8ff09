import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { AppError } from "@oc/contracts/errors";
import type { HonoEnv } from "../hono-env";
import { authenticateApiKey } from "../services/api-keys";
import { findSession } from "../services/sessions";
import { sessionCookieName } from "../lib/cookies";

/**
 * Authenticates by session cookie or `Authorization: Bearer ocp_…` API key. Cookie-authenticated writes
 * have already passed the same-origin check (middleware/same-origin.ts, on every /api route).
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
    c.set("user", found.user);
    c.set("sessionId", found.sessionId);
    await next();
  });

/**
 * Operators only, and only through a signed-in session: an admin's API key is a long-lived secret that
 * scripts and CI hold, so it never carries operator rights (buying servers, draining nodes).
 */
export const requireAdmin = () =>
  createMiddleware<HonoEnv>(async (c, next) => {
    if (c.get("user").role !== "admin") throw new AppError("FORBIDDEN", "Operators only.");
    if (!c.get("sessionId")) throw new AppError("SESSION_REQUIRED", "Operator routes need a signed-in session; API keys are not accepted here.");
    await next();
  });
