// Types of `env` and `exports` from "cloudflare:workers" inside the workerd tests.
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("../src/worker");
    durableNamespaces: "UserAgent" | "NodeLink" | "FleetScheduler";
  }
  interface Env {
    DATABASE_URL: string;
    APP_URL: string;
    NEON_LOCAL_WSPROXY: string;
    ENCRYPTION_KEY: string;
    USER_AGENT: DurableObjectNamespace<import("../../durable-objects/src/index").UserAgent>;
    NODE_LINK: DurableObjectNamespace<import("../../durable-objects/src/index").NodeLink>;
    FLEET: DurableObjectNamespace<import("../../durable-objects/src/index").FleetScheduler>;
  }
}

// Vite's `?raw` imports (a file's text), used to check wrangler.toml.
declare module "*?raw" {
  const text: string;
  export default text;
}
