import type { Db } from "@oc/db/client";
import type { Env } from "../env";
import type { SecretBox } from "@oc/contracts/crypto";
import type { Mailer } from "./email";

/** What a service function may use. Built per request by edge/src/middleware/init.ts; no HTTP in here. */
export interface Services {
  db: Db;
  env: Env;
  mailer: Mailer;
  secrets: SecretBox;
  /** Schedules work after the response (ctx.waitUntil in the Worker). */
  defer: (p: Promise<unknown>) => void;
}

/** Who is making a request, for audit records. */
export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
}
