import sveltekit from "../../app/.svelte-kit/cloudflare/_worker.js";
import { api } from "./api";
import { proxyFetch } from "./proxy/index";

export { NodeLink, UserAgent } from "../../durable-objects/src/index";

/**
 * The single Worker entry: /v1 is the metering LLM proxy, /api goes to Hono, everything else to the SvelteKit app (dashboard and
 * marketing site), whose static assets the platform serves before the Worker runs.
 */
export default {
  fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    if (pathname.startsWith("/v1/")) return proxyFetch(request, env, ctx);
    if (pathname === "/api" || pathname.startsWith("/api/")) return api.fetch(request, env, ctx);
    return sveltekit.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Record<string, unknown>>;
