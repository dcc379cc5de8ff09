/**
 * Traefik on each node, as data: the static config it starts with and the labels each user's container
 * carries. Traefik joins every user's bridge network (the node agent connects it on provision), while user
 * containers share none, so no agent can reach another. Traefik is not installable on the build machine:
 * tests check these against Traefik's documented syntax.
 */
export const ENTRYPOINT_WEB = "web";
export const ENTRYPOINT_SECURE = "websecure";
export const CERT_RESOLVER = "le";
export const GATEWAY_PORT = 18789;

/** Router and service names: Traefik allows letters, digits, "-" and "_". */
export const routerName = (userId: string) => `oc-${userId.replace(/[^A-Za-z0-9_-]/g, "-")}`;

export function containerLabels(opts: { userId: string; host: string; network: string }): Record<string, string> {
  if (!/^[a-z0-9.-]+$/.test(opts.host)) throw new Error(`not a hostname: ${opts.host}`);
  const r = routerName(opts.userId);
  return {
    "traefik.enable": "true",
    "traefik.docker.network": opts.network,
    [`traefik.http.routers.${r}.rule`]: `Host(\`${opts.host}\`)`,
    [`traefik.http.routers.${r}.entrypoints`]: ENTRYPOINT_SECURE,
    [`traefik.http.routers.${r}.tls`]: "true",
    [`traefik.http.routers.${r}.tls.certresolver`]: CERT_RESOLVER,
    [`traefik.http.routers.${r}.service`]: r,
    [`traefik.http.services.${r}.loadbalancer.server.port`]: String(GATEWAY_PORT),
  };
}

/**
 * Traefik's static configuration (traefik.yml). Written as JSON, which is valid YAML: HTTP redirects to
 * HTTPS, Let's Encrypt via the HTTP challenge, and only containers labelled traefik.enable=true are routed.
 */
export function staticConfig(opts: { acmeEmail: string; dockerSocket?: string }) {
  return {
    entryPoints: {
      [ENTRYPOINT_WEB]: { address: ":80", http: { redirections: { entryPoint: { to: ENTRYPOINT_SECURE, scheme: "https" } } } },
      [ENTRYPOINT_SECURE]: { address: ":443" },
    },
    providers: { docker: { endpoint: `unix://${opts.dockerSocket ?? "/var/run/docker.sock"}`, exposedByDefault: false, watch: true } },
    certificatesResolvers: {
      [CERT_RESOLVER]: { acme: { email: opts.acmeEmail, storage: "/letsencrypt/acme.json", httpChallenge: { entryPoint: ENTRYPOINT_WEB } } },
    },
    log: { level: "INFO" },
    api: { dashboard: false },
  };
}
