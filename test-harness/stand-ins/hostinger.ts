import { serve } from "./http.ts";

/**
 * Answers the Hostinger VPS API routes the autoscaler uses (post-install scripts, VM purchase) the way
 * developers.hostinger.com does: Bearer token required, JSON resources back. Keeps what it received,
 * readable at GET /_received.
 */
export async function startHostingerStandIn(port: number, token: string) {
  const received: { method: string; path: string; body: any }[] = [];
  let nextId = 1000;
  return serve(port, (req, raw, url) => {
    if (url.pathname === "/_received") return { status: 200, json: received };
    const body = raw ? JSON.parse(raw) : undefined;
    received.push({ method: req.method!, path: url.pathname, body });
    if (req.headers.authorization !== `Bearer ${token}`) return { status: 401, json: { message: "Unauthenticated.", correlation_id: "stand-in" } };
    if (req.method === "POST" && url.pathname === "/api/vps/v1/post-install-scripts") {
      if (!body?.name || !body?.content) return { status: 422, json: { message: "The name and content fields are required.", errors: {} } };
      return {
        status: 201,
        json: { id: nextId++, name: body.name, content: body.content, created_at: new Date().toISOString(), updated_at: new Date().toISOString() },
      };
    }
    if (req.method === "POST" && url.pathname === "/api/vps/v1/virtual-machines") {
      if (!body?.item_id || !body?.payment_method_id || !body?.setup?.post_install_script_id)
        return { status: 422, json: { message: "Invalid purchase request.", errors: {} } };
      if (!/\.[a-z]{2,}$/.test(body.setup.hostname ?? "")) return { status: 422, json: { message: "[VPS:2004] hostname must be a FQDN", errors: {} } };
      const id = nextId++;
      return {
        status: 200,
        json: {
          order: {
            id: id + 50_000,
            subscription_id: `sub-${id}`,
            status: "completed",
            currency: "USD",
            subtotal: 2599,
            total: 2599,
            billing_address: null,
            created_at: new Date().toISOString(),
            updated_at: new Date().toISOString(),
          },
          virtual_machine: {
            id,
            firewall_group_id: null,
            subscription_id: `sub-${id}`,
            data_center_id: body.setup.data_center_id,
            plan: "KVM 8",
            hostname: body.setup.hostname,
            state: "initial",
            actions_lock: "unlocked",
            cpus: 8,
            memory: 32768,
            disk: 409600,
            bandwidth: 32768000,
            ns1: null,
            ns2: null,
            ipv4: [],
            ipv6: [],
            template: null,
            created_at: new Date().toISOString(),
          },
        },
      };
    }
    return { status: 404, json: { message: "Not found", correlation_id: "stand-in" } };
  });
}
