import { sveltekit } from "@sveltejs/kit/vite";
import { defineConfig } from "vite";

// `vite dev` is for pure UI work: /api is proxied to `wrangler dev` (scripts/dev.sh runs both).
export default defineConfig({
  plugins: [sveltekit()],
  server: { proxy: { "/api": "http://127.0.0.1:8787" } },
  // The dashboard's charts are rendered on the server too: LayerChart ships .svelte sources, so it is compiled
  // into the server bundle instead of being left for wrangler's bundler (which cannot read .svelte files).
  ssr: { noExternal: ["layerchart"] },
});
