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
    USER_AGENT: DurableObjectNamespace<import("@oc/contracts/rpc").UserAgentRpc & Rpc.DurableObjectBranded>;
    NODE_LINK: DurableObjectNamespace<import("@oc/contracts/rpc").NodeLinkRpc & Rpc.DurableObjectBranded>;
    FLEET: DurableObjectNamespace<import("@oc/contracts/rpc").FleetSchedulerRpc & Rpc.DurableObjectBranded>;
  }
}

// Vite's `?raw` imports (a file's text), used to check wrangler.toml.
declare module "*?raw" {
  const text: string;
  export default text;
}
