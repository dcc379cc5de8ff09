/**
 * Where new worker nodes come from. Hostinger is the one implemented (hostinger.ts); Hetzner Cloud would be
 * another implementation of the same interface (POST /v1/servers with the bootstrap as cloud-init user_data).
 */
export interface NodeOrder {
  orderId: string;
  hostname: string;
  /** The post-install script: fetches scripts/server-setup.sh from the edge and runs it with a one-time token. */
  bootstrapScript: string;
}

export interface NodeProvider {
  readonly name: string;
  order(req: NodeOrder): Promise<{ providerRef: string }>;
}

/** The post-install script every provider runs on a new VPS (as root, once). */
export function bootstrapScript(opts: { edgeUrl: string; token: string; hostname: string; acmeEmail: string }): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    "#!/usr/bin/env bash",
    "# OpenClaw Cloud worker node: fetches the setup script from the edge and registers with a one-time token.",
    "set -euo pipefail",
    `curl -fsSL ${q(`${opts.edgeUrl}/downloads/server-setup.sh`)} -o /root/openclaw-server-setup.sh`,
    `EDGE_URL=${q(opts.edgeUrl)} REGISTRATION_TOKEN=${q(opts.token)} NODE_NAME=${q(opts.hostname)} ACME_EMAIL=${q(opts.acmeEmail)} bash /root/openclaw-server-setup.sh`,
    "",
  ].join("\n");
}
