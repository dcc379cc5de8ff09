import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { staticConfig } from "../node-agent/src/traefik";
import { signUpAndIn } from "../test-harness/accounts";

/**
 * scripts/server-setup.sh, the post-install script of a new worker VPS: linted by shellcheck, and its steps
 * that can run here run for real into a scratch ROOT: Docker's daemon.json, the node agent downloaded from
 * the edge (wrangler dev serves the bundle with the app's assets) and checked against its SHA-256,
 * registration with a one-time token, Traefik's static config and the systemd unit. The registered node's
 * agent (the downloaded bundle, as systemd would start it) then dials the edge with its new secret.
 */
const run = promisify(execFile);
const base = inject("baseUrl");
const edge = base.replace("localhost", "127.0.0.1");
let root = "";
let adminCookie = "";

async function setup(steps: string[], env: Record<string, string> = {}) {
  return run("bash", ["scripts/server-setup.sh", ...steps], {
    env: { ...process.env, ROOT: root, SKIP_SERVICES: "1", NODE_BIN: process.execPath, EDGE_URL: edge, NODE_NAME: "vps-test-1", ...env },
  });
}

async function newToken() {
  const res = await fetch(`${base}/api/admin/nodes/registration-tokens`, {
    method: "POST",
    headers: { cookie: adminCookie, origin: base, "content-type": "application/json" },
    body: "{}",
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "oc-vps-"));
  const email = `ops-${Date.now()}@example.com`;
  adminCookie = (await signUpAndIn(base, email, "operator-password", "127.0.0.21")).cookie;
  const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  await db.query("UPDATE users SET role = 'admin' WHERE email = $1", [email]);
  await db.end();
}, 30_000);

describe("scripts/server-setup.sh", () => {
  it("passes shellcheck", async () => {
    await expect(run("shellcheck", ["scripts/server-setup.sh"])).resolves.toBeDefined();
  });

  it("only operators can make registration tokens", async () => {
    const { cookie } = await signUpAndIn(base, `user-${Date.now()}@example.com`, "ordinary-password", "127.0.0.22");
    const res = await fetch(`${base}/api/admin/nodes/registration-tokens`, {
      method: "POST",
      headers: { cookie, origin: base, "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as any).error.code).toBe("FORBIDDEN");
  });

  it("sets up a node: daemon.json, agent bundle, one-time registration, Traefik config, systemd unit; the agent then connects", async () => {
    const token = await newToken();
    const { stderr } = await setup(["docker_config", "node_agent", "register", "egress", "traefik", "service"], {
      REGISTRATION_TOKEN: token,
      ACME_EMAIL: "ops@example.com",
    });
    expect(stderr).toContain("registered as node_");

    const daemon = JSON.parse(readFileSync(join(root, "etc/docker/daemon.json"), "utf8"));
    expect(daemon["default-address-pools"]).toEqual([{ base: "10.213.0.0/16", size: 28 }]);
    // Least privilege for containers: root in a container is an unprivileged host uid; iptables stays on
    // (Docker's network isolation and the DOCKER-USER chain the egress policy hooks into).
    expect(daemon).toMatchObject({ "userns-remap": "default", "no-new-privileges": true, iptables: true });
    const traefik = JSON.parse(readFileSync(join(root, "etc/traefik/traefik.yml"), "utf8"));
    expect(traefik).toEqual(staticConfig({ acmeEmail: "ops@example.com" }));
    expect(traefik.providers).toEqual({ file: { directory: "/etc/traefik/dynamic", watch: true } });
    expect(statSync(join(root, "etc/traefik/dynamic")).isDirectory()).toBe(true);
    // Traefik's container gets no Docker socket (the script's own docker run line).
    const script = readFileSync("scripts/server-setup.sh", "utf8");
    expect(script.slice(script.indexOf("traefik() {"))).not.toMatch(/docker\.sock/);
    const unit = readFileSync(join(root, "etc/systemd/system/openclaw-node.service"), "utf8");
    expect(unit).toContain("ExecStart=/opt/openclaw-node/node/bin/node /opt/openclaw-node/node-agent.mjs");
    expect(unit).toContain("EnvironmentFile=/etc/openclaw-node/node.env");
    const directives = Object.fromEntries(
      unit
        .split("\n")
        .filter((l) => /^[A-Za-z]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(directives).toMatchObject({ ProtectSystem: "strict", PrivateTmp: "yes", NoNewPrivileges: "yes", ProtectHome: "yes" });
    expect(directives.ReadWritePaths!.split(" ").sort()).toEqual(["-/run/xtables.lock", "/etc/traefik/dynamic", "/var/lib/openclaw"]);
    expect(directives.CapabilityBoundingSet!.split(" ").sort()).toEqual(["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_NET_ADMIN", "CAP_NET_RAW"]);
    const egressUnit = readFileSync(join(root, "etc/systemd/system/openclaw-egress.service"), "utf8");
    expect(egressUnit).toContain("node-agent.mjs egress-install");
    expect(egressUnit).toContain("Before=openclaw-node.service");

    const envFile = join(root, "etc/openclaw-node/node.env");
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    const nodeEnv = Object.fromEntries(
      readFileSync(envFile, "utf8")
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(nodeEnv).toMatchObject({
      EDGE_URL: edge,
      NODE_ID: expect.stringMatching(/^node_/),
      EGRESS_POLICY: "on",
      TRAEFIK_DYNAMIC_DIR: "/etc/traefik/dynamic",
      DOCKER_ADDRESS_POOL: "10.213.0.0/16",
      USERNS_UID_OFFSET: "0",
    }); // no dockremap range in the scratch root
    // No storage keys on the node: archives move through presigned URLs from the edge.
    expect(Object.keys(nodeEnv).filter((k) => k.startsWith("S3_"))).toEqual([]);

    // Running the step again does not register twice; the spent token is refused if presented again.
    expect((await setup(["register"], { REGISTRATION_TOKEN: token })).stderr).toContain(`already registered as ${nodeEnv.NODE_ID}`);
    const reused = await fetch(`${base}/api/nodes/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, name: "thief" }),
    });
    expect(reused.status).toBe(401);

    // The installed bundle, started the way systemd starts it, dials the edge with the new secret.
    const { spawn } = await import("node:child_process");
    const agent = spawn(process.execPath, [join(root, "opt/openclaw-node/node-agent.mjs")], {
      env: { ...nodeEnv, DOCKER_HOST: "unix:///nonexistent.sock", PATH: process.env.PATH },
      stdio: "pipe",
    });
    let out = "";
    agent.stdout.on("data", (d) => (out += d));
    agent.stderr.on("data", (d) => (out += d));
    try {
      const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await db.connect();
      const { rows } = await db.query("SELECT status, name, ram_total_mb FROM nodes WHERE id = $1", [nodeEnv.NODE_ID]);
      await db.end();
      expect(rows[0]).toMatchObject({ status: "registering", name: "vps-test-1" });
      expect(rows[0].ram_total_mb).toBeGreaterThan(0);
      const live = async () =>
        (
          (await fetch(`${base}/api/admin/nodes`, { headers: { cookie: adminCookie } }).then((r) => r.json())) as {
            nodes: { id: string; connected: boolean; metrics: unknown }[];
          }
        ).nodes.find((n) => n.id === nodeEnv.NODE_ID);
      let node = await live();
      for (let i = 0; i < 100 && !(node?.connected && node.metrics); i++) {
        await new Promise((r) => setTimeout(r, 100));
        node = await live();
      }
      expect(node, out).toMatchObject({ connected: true, metrics: { ramTotalMb: expect.any(Number) } });
      expect(out).toContain(`node ${nodeEnv.NODE_ID} →`);
      // Healthy and connected: the fleet check makes it active (placeable).
      const check = (await fetch(`${base}/api/admin/fleet/check`, { method: "POST", headers: { cookie: adminCookie, origin: base } }).then((r) =>
        r.json(),
      )) as { transitions: { nodeId: string; to: string }[] };
      expect(check.transitions).toContainEqual(expect.objectContaining({ nodeId: nodeEnv.NODE_ID, to: "active" }));
    } finally {
      agent.kill("SIGTERM");
    }
  }, 60_000);

  it("refuses an unknown token with a clear message and writes nothing", async () => {
    const other = mkdtempSync(join(tmpdir(), "oc-vps-"));
    const failed = await run("bash", ["scripts/server-setup.sh", "register"], {
      env: { ...process.env, ROOT: other, SKIP_SERVICES: "1", NODE_BIN: process.execPath, EDGE_URL: edge, REGISTRATION_TOKEN: "ocn_forged" },
    }).catch((e) => e);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/refused the registration \(HTTP 401\).*unknown, expired or already used/);
    expect(() => statSync(join(other, "etc/openclaw-node/node.env"))).toThrow();
  });

  // Compressed swap as the node boots with it, with the functions the benchmarks measure (scripts/lib).
  it.skipIf(!existsSync("/sys/class/zram-control"))(
    "installs the measured swap functions from the edge, checked by SHA-256; the boot script turns zram on once and a tampered download is refused",
    async () => {
      // The setup script alone, as a VPS has it, so the functions come from the edge.
      const alone = join(mkdtempSync(join(tmpdir(), "oc-vps-setup-")), "server-setup.sh");
      copyFileSync("scripts/server-setup.sh", alone);
      const swapStep = (vpsRoot: string, edgeUrl: string) =>
        run("bash", [alone, "swap"], { env: { ...process.env, ROOT: vpsRoot, SKIP_SERVICES: "1", EDGE_URL: edgeUrl, SWAP_KIND: "zram", SWAP_MB: "64" } });

      // A download that differs from its published checksum installs nothing.
      const tampering = createServer(async (req, res) => {
        const upstream = await fetch(`${edge}${req.url}`);
        let body = Buffer.from(await upstream.arrayBuffer());
        if (req.url === "/downloads/lib/zram.sh") body = Buffer.concat([body, Buffer.from("\necho tampered >&2\n")]);
        res.writeHead(upstream.status).end(body);
      });
      await new Promise<void>((r) => tampering.listen(0, "127.0.0.1", r));
      const other = mkdtempSync(join(tmpdir(), "oc-vps-"));
      try {
        const failed = await swapStep(other, `http://127.0.0.1:${(tampering.address() as AddressInfo).port}`).catch((e) => e);
        expect(failed.code).toBe(1);
        expect(failed.stderr).toContain("swap scripts checksum mismatch");
        expect(existsSync(join(other, "opt/openclaw-node/lib"))).toBe(false);
        expect(existsSync(join(other, "opt/openclaw-node/compressed-swap.sh"))).toBe(false);
      } finally {
        tampering.close();
      }

      // The same step against the edge itself (the positive control of the check above) installs the files as they are here.
      await swapStep(root, edge);
      const prefix = join(root, "opt/openclaw-node");
      for (const f of ["exit-trap.sh", "zram.sh", "zswap.sh"])
        expect(readFileSync(join(prefix, "lib", f), "utf8")).toBe(readFileSync(join("scripts/lib", f), "utf8"));
      expect(readFileSync(join(root, "etc/systemd/system/openclaw-swap.service"), "utf8")).toContain("ExecStart=/opt/openclaw-node/compressed-swap.sh");

      // The boot script, run for real: its own zram device (state in the scratch dir), removed again after.
      const state = join(root, "zram.dev");
      const boot = () => run(join(prefix, "compressed-swap.sh"), [], { env: { ...process.env, ZRAM_STATE: state } });
      try {
        await boot();
        await boot(); // a second run (the unit restarted) adds no second device
        const dev = readFileSync(state, "utf8").trim();
        expect(
          readFileSync("/proc/swaps", "utf8")
            .split("\n")
            .filter((l) => l.startsWith(`/dev/${dev} `)),
        ).toHaveLength(1);
        expect(Number(readFileSync(`/sys/block/${dev}/disksize`, "utf8"))).toBe(64 * 1024 * 1024);
      } finally {
        await run("bash", ["-c", "source scripts/lib/zram.sh && zram_down"], { env: { ...process.env, ZRAM_STATE: state } });
      }
      expect(existsSync(state)).toBe(false);
    },
    60_000,
  );
});
