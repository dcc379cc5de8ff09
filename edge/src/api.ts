import { newApp } from "./app";
import { limitBody, requireJson } from "./middleware/body";
import { init } from "./middleware/init";
import { requestId } from "./middleware/request-id";
import { requireSameOrigin } from "./middleware/same-origin";
import { registerAgentRoutes } from "./routes/agent";
import { registerAdminRoutes } from "./routes/admin";
import { registerAgentSettingsRoutes } from "./routes/agent-settings";
import { registerInsightRoutes } from "./routes/insights";
import { registerAuthRoutes } from "./routes/auth";
import { registerBillingRoutes } from "./routes/billing";
import { registerBrowserRoutes } from "./routes/browser";
import { registerChannelRoutes } from "./routes/channels";
import { registerCustomizeRoutes } from "./routes/customize";
import { registerWorkspaceRoutes } from "./routes/workspace";
import { registerNodeRoutes } from "./routes/nodes";
import { registerOAuthRoutes } from "./routes/oauth";
import { registerSecurityRoutes } from "./routes/security";
import { registerSystemRoutes } from "./routes/system";

/** The /api surface: shared middleware, then each area's routes, then the generated OpenAPI document. */
export const api = newApp("/api");

api.use(requestId(), init(), requireSameOrigin(), limitBody(), requireJson());

registerSystemRoutes(api);
registerAuthRoutes(api);
registerOAuthRoutes(api);
registerSecurityRoutes(api);
registerNodeRoutes(api);
registerAgentRoutes(api);
registerBillingRoutes(api);
registerAdminRoutes(api);
registerAgentSettingsRoutes(api);
registerInsightRoutes(api);
registerChannelRoutes(api);
registerCustomizeRoutes(api);
registerWorkspaceRoutes(api);
registerBrowserRoutes(api);

api.doc31("/openapi.json", {
  openapi: "3.1.0",
  info: { title: "OpenClaw Cloud API", version: "1.0.0", description: "Accounts, agents and billing for hosted OpenClaw agents." },
});
