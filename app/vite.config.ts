import { sveltekit } from "@sveltejs/kit/vite";
import { defineConfig } from "vite";

// `vite dev` is for pure UI work: /api is proxied to `wrangler dev` (scripts/dev.sh runs both).
export default defineConfig({
  plugins: [sveltekit()],
  server: { proxy: { "/api": "http://127.0.0.1:8787" } },
});
