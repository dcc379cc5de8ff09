import { createMiddleware } from "hono/factory";
import { AppError } from "@oc/contracts/errors";
import type { HonoEnv } from "../hono-env";
import { limitAccount } from "../services/attempts";

/**
 * Rate limiting for auth routes through Cloudflare's Rate Limiting binding (AUTH_LIMITER, see
 * wrangler.toml), keyed by client IP and route, so password guessing and mail bombing are bounded per
 * address without a database round trip. `limitAccount` (services/attempts.ts) adds the same bound per account (normalized email
 * or user id), so spreading guesses over many addresses does not help either.
 */
export const rateLimit = (bucket: string) =>
  createMiddleware<HonoEnv>(async (c, next) => {
    const ip = c.get("meta").ip ?? "unknown";
    const { success } = await c.env.AUTH_LIMITER.limit({ key: `${bucket}:${ip}` });
    if (!success) {
      c.header("Retry-After", "60");
      throw new AppError("RATE_LIMITED", "Too many attempts. Wait a minute and try again.");
    }
    await next();
  });

/** Route middleware for signed-in security changes: bounded per user (after requireUser). */
export const rateLimitUser = (bucket: string) =>
  createMiddleware<HonoEnv>(async (c, next) => {
    await limitAccount(c.get("services"), bucket, c.get("user").id);
    await next();
  });
