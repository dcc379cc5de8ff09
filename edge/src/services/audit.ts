import { auditLog } from "@oc/db/schema";
import { newId } from "@oc/contracts/ids";
import type { RequestMeta, Services } from "./context";

/** Security-relevant events (logins, 2FA changes, key creation). Written after the response. */
export function audit(s: Services, meta: RequestMeta, userId: string | null, action: string, extra?: Record<string, unknown>) {
  s.defer(
    s.db
      .insert(auditLog)
      .values({ id: newId("aud"), userId, actor: userId ?? "anonymous", action, ip: meta.ip, meta: extra ? JSON.stringify(extra) : null })
      .catch((e) => console.error("[audit] write failed", e)),
  );
}
