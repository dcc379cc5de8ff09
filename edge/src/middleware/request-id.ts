import { createMiddleware } from "hono/factory";
import type { HonoEnv } from "../hono-env";

/** Every response carries X-Request-Id; the same id is in the error envelope and the logs. */
export const requestId = () =>
  createMiddleware<HonoEnv>(async (c, next) => {
    const id = `req_${crypto.randomUUID().replace(/-/g, "")}`;
    c.set("requestId", id);
    c.header("X-Request-Id", id);
    await next();
  });
