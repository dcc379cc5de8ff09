import type { NodeLinkRpc, UserAgentRpc } from "@oc/contracts/rpc";

/**
 * What each object reads of the Worker's env, in one place. Another object's namespace is typed by its RPC
 * interface in contracts, so no object imports another's class (that was an import cycle), and checked below
 * against the bindings generated from wrangler.toml (worker-configuration.d.ts, `npm run types:worker`).
 * The string variables are Worker secrets, not in wrangler.toml; edge/src/env.ts validates them.
 */
type Namespace<T> = DurableObjectNamespace<T & Rpc.DurableObjectBranded>;

/** Where the bridged channels' replies are sent (stand-ins in dev and tests). */
export interface ReplyEnv {
  WHATSAPP_API_BASE?: string;
  DISCORD_API_BASE?: string;
}

export type UserAgentEnv = ReplyEnv & {
  DATABASE_URL?: string;
  NEON_LOCAL_WSPROXY?: string;
  ENCRYPTION_KEY?: string;
  NODE_LINK?: Namespace<NodeLinkRpc>;
};

export interface NodeLinkEnv {
  USER_AGENT: Namespace<UserAgentRpc>;
  ENCRYPTION_KEY: string;
}

/** The generated binding types and these agree (a renamed binding or class breaks the build here). */
type Serves<Generated, Used> = [Generated] extends [Used] ? true : false;
export type BindingsAgree = [
  Serves<Cloudflare.Env["NODE_LINK"], NonNullable<UserAgentEnv["NODE_LINK"]>>,
  Serves<Cloudflare.Env["USER_AGENT"], NodeLinkEnv["USER_AGENT"]>,
] extends true[]
  ? true
  : never;
const bindingsAgree: BindingsAgree = true;
void bindingsAgree;
