import { execFile } from "node:child_process";
import { promisify } from "node:util";

/**
 * What an agent container may reach, enforced by the host's firewall (an agent container runs whatever a
 * prompt injection tells it to, so the policy cannot live inside it).
 *
 * Two chains owned by the node agent, jumped to per agent bridge:
 * - `<prefix>-EGRESS`, from Docker's `DOCKER-USER` (FORWARD): traffic that leaves the bridge. Replies and
 *   explicit allows pass; link-local (cloud metadata), private and shared ranges, loopback, multicast and
 *   the Docker address pool (so every other tenant's network) are rejected; anything else (the public
 *   internet) goes on to Docker's own rules.
 * - `<prefix>-HOST`, from `INPUT`: traffic to the host itself (its gateway address on the bridge, its
 *   public address, anything local). Only replies and the explicitly allowed host ports pass.
 * Traffic inside one bridge (Traefik reaching that agent) passes: its rule comes first in `DOCKER-USER`.
 * DNS needs no allow: Docker's embedded resolver answers inside the container's own namespace.
 */
export const BLOCKED_RANGES = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "224.0.0.0/4",
  "240.0.0.0/4",
] as const;

export interface EgressOptions {
  /** Chain name prefix; tests use their own so they never touch a real node's chains. */
  prefix?: string;
  /** The Docker address pool(s) for agent networks (refused even if outside the private ranges). */
  pools?: string[];
  /** Destinations outside the host that must stay reachable although private (a local edge in dev/test). */
  allow?: { ip: string; port: number }[];
  /** Ports on the host itself containers may reach (an edge on the same machine: host.docker.internal:<port>). */
  hostPorts?: number[];
  /** Runs `iptables` with argv (never a shell string); replaceable in tests of the rule set. */
  iptables?: (args: string[]) => Promise<string>;
}

const run = promisify(execFile);
const defaultIptables = async (args: string[]) => (await run("iptables", ["-w", "5", ...args])).stdout;

/** The Linux bridge behind a Docker bridge network (Docker names it `br-` + the first 12 hex of its id). */
export const bridgeOf = (networkId: string) => `br-${networkId.slice(0, 12)}`;

export class EgressPolicy {
  readonly egressChain: string;
  readonly hostChain: string;
  private readonly ipt: (args: string[]) => Promise<string>;

  constructor(private readonly opts: EgressOptions = {}) {
    const prefix = opts.prefix ?? "OPENCLAW";
    if (!/^[A-Z][A-Z0-9_]{0,15}$/.test(prefix)) throw new Error(`bad chain prefix: ${prefix}`);
    this.egressChain = `${prefix}-EGRESS`;
    this.hostChain = `${prefix}-HOST`;
    this.ipt = opts.iptables ?? defaultIptables;
  }

  /** The rules of both chains, in order, as iptables argv (after `-A <chain>`). */
  rules(): { egress: string[][]; host: string[][] } {
    const reply = ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"];
    const egress = [reply];
    for (const a of this.opts.allow ?? []) egress.push(["-d", `${a.ip}/32`, "-p", "tcp", "--dport", String(a.port), "-j", "RETURN"]);
    for (const cidr of [...BLOCKED_RANGES, ...(this.opts.pools ?? [])]) egress.push(["-d", cidr, "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"]);
    egress.push(["-j", "RETURN"]);
    const host = [reply];
    for (const port of this.opts.hostPorts ?? []) host.push(["-p", "tcp", "--dport", String(port), "-j", "RETURN"]);
    host.push(["-j", "REJECT", "--reject-with", "icmp-admin-prohibited"]);
    return { egress, host };
  }

  /** Creates (or rebuilds) both chains. Idempotent; run at node agent start, before any container starts. */
  async install(): Promise<void> {
    const { egress, host } = this.rules();
    for (const [chain, rules] of [
      [this.egressChain, egress],
      [this.hostChain, host],
    ] as const) {
      await this.ipt(["-N", chain]).catch(() => undefined); // exists already
      await this.ipt(["-F", chain]);
      for (const r of rules) await this.ipt(["-A", chain, ...r]);
    }
  }

  private jumps(bridge: string): [string, string[]][] {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) throw new Error(`bad bridge name: ${bridge}`);
    return [
      // Order matters: -I puts each at the top, so the intra-bridge allow ends up first.
      ["DOCKER-USER", ["-i", bridge, "-j", this.egressChain]],
      ["DOCKER-USER", ["-i", bridge, "-o", bridge, "-j", "RETURN"]],
      ["INPUT", ["-i", bridge, "-j", this.hostChain]],
    ];
  }

  /** Puts one agent bridge under the policy. Idempotent (checked with -C before inserting). */
  async attach(bridge: string): Promise<void> {
    for (const [chain, rule] of this.jumps(bridge)) {
      const present = await this.ipt(["-C", chain, ...rule]).then(
        () => true,
        () => false,
      );
      if (!present) await this.ipt(["-I", chain, "1", ...rule]);
    }
  }

  /** Removes one bridge's jumps (its network is being removed). */
  async detach(bridge: string): Promise<void> {
    for (const [chain, rule] of this.jumps(bridge)) {
      while (
        await this.ipt(["-D", chain, ...rule]).then(
          () => true,
          () => false,
        )
      );
    }
  }

  /** Removes every jump to the chains (whatever bridge they name) and the chains themselves. */
  async uninstall(): Promise<void> {
    for (const [parent, chain] of [
      ["DOCKER-USER", this.egressChain],
      ["INPUT", this.hostChain],
    ] as const) {
      const listing = await this.ipt(["-S", parent]).catch(() => "");
      for (const line of listing.split("\n")) {
        const m = line.match(/^-A \S+ -i (\S+)(?: -o (\S+))? -j (\S+)$/);
        if (!m || !m[1]) continue;
        if (m[3] === chain) await this.ipt(["-D", parent, "-i", m[1], "-j", chain]).catch(() => undefined);
      }
    }
    for (const chain of [this.egressChain, this.hostChain]) {
      await this.ipt(["-F", chain]).catch(() => undefined);
      await this.ipt(["-X", chain]).catch(() => undefined);
    }
  }
}

/** Reads the policy's settings from the node agent's environment (written by server-setup.sh). */
export function egressFromEnv(env: NodeJS.ProcessEnv = process.env): EgressPolicy | undefined {
  if (env.EGRESS_POLICY !== "on") return undefined;
  const allow = (env.EGRESS_ALLOW ?? "")
    .split(",")
    .filter(Boolean)
    .map((s) => {
      const [ip, port] = s.split(":");
      if (!ip || !/^\d+\.\d+\.\d+\.\d+$/.test(ip) || !Number(port)) throw new Error(`EGRESS_ALLOW: not ip:port: ${s}`);
      return { ip, port: Number(port) };
    });
  const hostPorts = (env.EGRESS_HOST_PORTS ?? "").split(",").filter(Boolean).map(Number);
  if (hostPorts.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) throw new Error("EGRESS_HOST_PORTS: not a port list");
  const pools = (env.DOCKER_ADDRESS_POOL ?? "").split(",").filter(Boolean);
  return new EgressPolicy({ allow, hostPorts, pools });
}
