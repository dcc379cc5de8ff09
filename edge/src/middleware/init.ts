import { createMiddleware } from "hono/factory";
import { AppError } from "@oc/contracts/errors";
import { loadEnv } from "../env";
import { errorResponse } from "../errors";
import type { HonoEnv } from "../hono-env";
import { buildServices } from "../services/build";

/**
 * Checks the env (once per isolate) and builds the per-request services. The database pool is opened only
 * if a handler touches it, and closed after the response once every deferred write has finished.
 */
export const init = () =>
  createMiddleware<HonoEnv>(async (c, next) => {
    const { env, problems } = loadEnv(c.env as object);
    if (problems) {
      const names = problems.map((p) => p.split(":")[0]).join(", ");
      return errorResponse(c, new AppError("BAD_ENVIRONMENT", `The server is misconfigured (check: ${names}).`, { details: problems }));
    }
    const { services, finish } = buildServices(env, c.get("requestId"));
    c.set("services", services);
    c.set("meta", { ip: c.req.header("cf-connecting-ip") ?? null, userAgent: c.req.header("user-agent") ?? null });
    try {
      await next();
    } finally {
      const done = finish();
      try {
        c.executionCtx.waitUntil(done);
      } catch {
        await done; // no execution context (direct app.request in tests)
      }
    }
  });
