import sveltekit from "../../app/.svelte-kit/cloudflare/_worker.js";
import { api } from "./api";

export { NodeLink, UserAgent } from "../../durable-objects/src/index";

/**
 * The single Worker entry: /api goes to Hono, everything else to the SvelteKit app (dashboard and
 * marketing site), whose static assets the platform serves before the Worker runs.
 */
export default {
  fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    if (pathname === "/api" || pathname.startsWith("/api/")) return api.fetch(request, env, ctx);
    return sveltekit.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Record<string, unknown>>;
