import type { Env } from "./env";
import type { RequestMeta, Services } from "./services/context";
import type { SessionUser } from "./services/sessions";

export type HonoEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    services: Services;
    meta: RequestMeta;
    user: SessionUser;
    /** Set when the request is authenticated by a session cookie (not an API key). */
    sessionId?: string;
  };
};
