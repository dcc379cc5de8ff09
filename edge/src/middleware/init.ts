import { createMiddleware } from "hono/factory";
import { AppError } from "../../../contracts/src/errors";
import { openDb, type Db } from "../db/client";
import { loadEnv } from "../env";
import { errorResponse } from "../errors";
import type { HonoEnv } from "../hono-env";
import { SecretBox } from "../lib/crypto";
import type { Services } from "../services/context";
import { createMailer } from "../services/email";

const boxes = new Map<string, SecretBox>();

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
    let box = boxes.get(env.ENCRYPTION_KEY);
    if (!box) boxes.set(env.ENCRYPTION_KEY, (box = new SecretBox(env.ENCRYPTION_KEY)));

    const deferred: Promise<unknown>[] = [];
    let opened: ReturnType<typeof openDb> | undefined;
    const db = () => (opened ??= openDb(env.DATABASE_URL, env.NEON_LOCAL_WSPROXY)).db;
    const services: Services = {
      env,
      secrets: box,
      defer: (p) => void deferred.push(p.catch((e) => console.error(`[${c.get("requestId")}] deferred work failed`, e))),
      get db(): Db {
        return db();
      },
      get mailer() {
        return createMailer(db(), { from: env.EMAIL_FROM, resendKey: env.RESEND_API_KEY, resendBaseUrl: env.RESEND_BASE_URL });
      },
    };
    c.set("services", services);
    c.set("meta", { ip: c.req.header("cf-connecting-ip") ?? null, userAgent: c.req.header("user-agent") ?? null });
    try {
      await next();
    } finally {
      const done = Promise.allSettled(deferred).then(() => opened?.close());
      try {
        c.executionCtx.waitUntil(done);
      } catch {
        await done; // no execution context (direct app.request in tests)
      }
    }
  });
