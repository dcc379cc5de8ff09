import adapter from "@sveltejs/adapter-cloudflare";
import { vitePreprocess } from "@sveltejs/vite-plugin-svelte";

// adapter-cloudflare rewrites the `main` of the wrangler config it is given, so it gets its own small
// config; the real Worker entry (edge/src/worker.ts) imports the generated _worker.js.
export default {
  preprocess: vitePreprocess(),
  kit: {
    adapter: adapter({ config: "wrangler.adapter.jsonc" }),
  },
};
