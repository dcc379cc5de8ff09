import sveltekit from "../../app/.svelte-kit/cloudflare/_worker.js";
import { api } from "./api";
import { browserRelay } from "./browser-relay";
import { hooks } from "./hooks";
import { proxyFetch } from "./proxy/index";
import { loadEnv } from "./env";
import { buildServices } from "./services/build";
import { checkFleet } from "./services/fleet/fleet";
import { deleteAfterGrace } from "./services/account-deletion";
import { runJob } from "./services/billing/webhooks";
import { recordJobGaveUp } from "./services/fleet/console";
import { GAVE_UP_KIND, registerJobRunner } from "../../durable-objects/src/jobs";

export { FleetScheduler, NodeLink, UserAgent } from "../../durable-objects/src/index";

// The users' Durable Objects run their follow-up jobs (jobs.ts) through the edge's services; they share this
// Worker's module graph, so registering here reaches every object this script runs. A job given up is
// reported to the operator console by a job of its own.
registerJobRunner((env, job) => (job.kind === GAVE_UP_KIND ? recordJobGaveUp(env, job) : runJob(env, job)));

/**
 * The single Worker entry: /v1 is the metering LLM proxy, /api goes to Hono, /hooks takes chat platforms'
 * deliveries, /browser is the agents' CDP relay, everything else to the SvelteKit app (dashboard and
 * marketing site), whose static assets the platform serves before the Worker runs.
 */
export default {
  fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    if (pathname.startsWith("/v1/")) return proxyFetch(request, env, ctx);
    if (pathname === "/api" || pathname.startsWith("/api/")) return api.fetch(request, env, ctx);
    if (pathname.startsWith("/hooks/")) return hooks.fetch(request, env, ctx);
    if (pathname.startsWith("/browser/")) return browserRelay.fetch(request, env, ctx);
    // The app's server code (form actions, server loads) reaches the API in process through `platform.env.API`,
    // shaped like a service binding: a Worker cannot fetch its own hostname (the request would leave and
    // loop back through the edge, or fail on workers.dev), and an in-process call keeps the browser's
    // cookie, Origin and IP headers exactly as the API would have seen them from the browser.
    return sveltekit.fetch(request, { ...env, API: { fetch: (req: Request) => api.fetch(req, env, ctx) } }, ctx);
  },
  /** Cron (wrangler.toml [triggers]), every minute: the fleet check, and deleting accounts whose grace ended. */
  async scheduled(_controller, rawEnv, ctx) {
    const { env } = loadEnv(rawEnv);
    if (!env) return;
    const { services, finish } = buildServices(env, "cron");
    ctx.waitUntil(
      Promise.all([
        checkFleet(services)
          .then((r) => console.log(`[fleet] ${r.decision.action}: ${r.decision.reason}`))
          .catch((e) => console.error("[fleet] check failed", e)),
        deleteAfterGrace(services).catch((e) => console.error("[account] scheduled deletions failed", e)),
      ]).finally(finish),
    );
  },
} satisfies ExportedHandler<Record<string, unknown>>;
