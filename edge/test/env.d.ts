// `env` and `exports` from "cloudflare:workers" inside the workerd tests: the Worker's bindings and main module
// come from worker-configuration.d.ts (`npm run types:worker`); these are the variables vitest.edge.config.ts adds.
declare namespace Cloudflare {
  interface Env {
    DATABASE_URL: string;
    APP_URL: string;
    NEON_LOCAL_WSPROXY: string;
    ENCRYPTION_KEY: string;
  }
}

// Vite's `?raw` imports (a file's text), used to check wrangler.toml.
declare module "*?raw" {
  const text: string;
  export default text;
}
