import { openDb, type Db } from "@oc/db/client";
import type { Env } from "../env";
import { SecretBox } from "@oc/contracts/crypto";
import type { Services } from "./context";
import { createMailer } from "./email";

const boxes = new Map<string, SecretBox>();

/**
 * Services for one request or one background job. The database pool opens only if something touches it;
 * `finish()` waits for deferred work, then closes it (call it in waitUntil).
 */
export function buildServices(env: Env, label: string): { services: Services; finish: () => Promise<void> } {
  let box = boxes.get(env.ENCRYPTION_KEY);
  if (!box) boxes.set(env.ENCRYPTION_KEY, (box = new SecretBox(env.ENCRYPTION_KEY)));
  const deferred: Promise<unknown>[] = [];
  let opened: ReturnType<typeof openDb> | undefined;
  const db = () => (opened ??= openDb(env.DATABASE_URL, env.NEON_LOCAL_WSPROXY)).db;
  const services: Services = {
    env,
    secrets: box,
    defer: (p) => void deferred.push(p.catch((e) => console.error(`[${label}] deferred work failed`, e))),
    get db(): Db {
      return db();
    },
    get mailer() {
      return createMailer(db(), {
        from: env.EMAIL_FROM,
        resendKey: env.RESEND_API_KEY,
        resendBaseUrl: env.RESEND_BASE_URL,
        keepSecrets: env.DEV_MODE === "local" && env.ENVIRONMENT !== "production",
      });
    },
  };
  return { services, finish: () => Promise.allSettled(deferred).then(() => opened?.close()) };
}
