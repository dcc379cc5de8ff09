import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Traefik on each node, as data. Traefik learns its routes from files the node agent writes (its file
 * provider), not from the Docker socket: a process holding the socket is root on the node, and Traefik
 * faces the internet. Traefik joins every user's bridge network (the node agent connects it on
 * provision), while user containers share none, so no agent can reach another. Traefik is not installable
 * on the build machine: tests check these against Traefik's documented syntax.
 */
export const ENTRYPOINT_WEB = "web";
export const ENTRYPOINT_SECURE = "websecure";
export const CERT_RESOLVER = "le";
export const GATEWAY_PORT = 18789;
/** Where Traefik reads its dynamic config inside its container (the node's dir is mounted there). */
export const DYNAMIC_DIR_IN_TRAEFIK = "/etc/traefik/dynamic";

/** Router and service names: Traefik allows letters, digits, "-" and "_". */
export const routerName = (userId: string) => `oc-${userId.replace(/[^A-Za-z0-9_-]/g, "-")}`;

/** One agent's route: its public host, over TLS, to its gateway on its private bridge address. */
export function dynamicConfig(opts: { userId: string; host: string; ip: string }) {
  if (!/^[a-z0-9.-]+$/.test(opts.host)) throw new Error(`not a hostname: ${opts.host}`);
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(opts.ip)) throw new Error(`not an IPv4 address: ${opts.ip}`);
  const r = routerName(opts.userId);
  return {
    http: {
      routers: { [r]: { rule: `Host(\`${opts.host}\`)`, entryPoints: [ENTRYPOINT_SECURE], service: r, tls: { certResolver: CERT_RESOLVER } } },
      services: { [r]: { loadBalancer: { servers: [{ url: `http://${opts.ip}:${GATEWAY_PORT}` }] } } },
    },
  };
}

/**
 * Traefik's static configuration (traefik.yml). Written as JSON, which is valid YAML: HTTP redirects to
 * HTTPS, Let's Encrypt via the HTTP challenge, and routes only from the node agent's files.
 */
export function staticConfig(opts: { acmeEmail: string }) {
  return {
    entryPoints: {
      [ENTRYPOINT_WEB]: { address: ":80", http: { redirections: { entryPoint: { to: ENTRYPOINT_SECURE, scheme: "https" } } } },
      [ENTRYPOINT_SECURE]: { address: ":443" },
    },
    providers: { file: { directory: DYNAMIC_DIR_IN_TRAEFIK, watch: true } },
    certificatesResolvers: {
      [CERT_RESOLVER]: { acme: { email: opts.acmeEmail, storage: "/letsencrypt/acme.json", httpChallenge: { entryPoint: ENTRYPOINT_WEB } } },
    },
    log: { level: "INFO" },
    api: { dashboard: false },
  };
}

/**
 * The node agent's side of the file provider: one file per agent in a directory only root writes (never a
 * tenant's state dir). Each write is a rename, so Traefik never reads half a file.
 */
export class TraefikRoutes {
  constructor(private readonly dir: string) {}

  // Traefik reads .yml/.yaml/.toml from the directory (JSON is valid YAML); the .tmp file is ignored.
  file = (userId: string) => join(this.dir, `${routerName(userId)}.yml`);

  async publish(userId: string, host: string, ip: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    const tmp = `${this.file(userId)}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(dynamicConfig({ userId, host, ip }), null, 2), { mode: 0o644 });
    await rename(tmp, this.file(userId));
  }

  async withdraw(userId: string): Promise<void> {
    await rm(this.file(userId), { force: true });
  }
}
