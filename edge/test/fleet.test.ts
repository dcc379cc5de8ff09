import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { FleetPolicy } from "@oc/contracts/fleet";
import { loadEnv } from "../src/env";
import { hostingerProvider } from "../src/services/fleet/hostinger";
import { bootstrapScript } from "../src/services/fleet/provider";
import { TEST_PORTS } from "../../test-harness/ports";

const policy: FleetPolicy = { scaleAt: 0.85, maxNodes: 5, maxMonthlySpendCents: 10_000, nodeMonthlyCostCents: 2_599, orderTimeoutMs: 60_000 };
const scheduler = () => env.FLEET.getByName(`fleet-${crypto.randomUUID()}`);

describe("the fleet scheduler (one Durable Object)", () => {
  it("past the threshold, 50 simultaneous evaluations place exactly one order", async () => {
    const fleet = scheduler();
    const decisions = await Promise.all(Array.from({ length: 50 }, () => fleet.evaluate({ utilisation: 0.9, nodes: 2, full: false, registering: 0 }, policy)));
    expect(decisions.filter((d) => d.action === "order")).toHaveLength(1);
    expect(decisions.filter((d) => d.action === "wait")).toHaveLength(49);
    expect(await fleet.listOrders()).toHaveLength(1);
  });

  it("below the threshold nothing happens, unless no node has room; a node still starting up is waited for", async () => {
    const fleet = scheduler();
    expect((await fleet.evaluate({ utilisation: 0.95, nodes: 3, full: true, registering: 1 }, policy)).action).toBe("wait");
    expect((await fleet.evaluate({ utilisation: 0.5, nodes: 2, full: false, registering: 0 }, policy)).action).toBe("none");
    expect((await fleet.evaluate({ utilisation: 0.5, nodes: 2, full: true, registering: 0 }, policy)).action).toBe("order");
  });

  it("a failed or expired order frees the way for the next; a registered one counts towards the spend cap", async () => {
    const fleet = scheduler();
    const first = await fleet.evaluate({ utilisation: 0.9, nodes: 1, full: false, registering: 0 }, policy);
    if (first.action !== "order") throw new Error("expected an order");
    await fleet.orderFailed(first.orderId, "provider said no");
    const second = await fleet.evaluate({ utilisation: 0.9, nodes: 1, full: false, registering: 0 }, policy);
    expect(second.action).toBe("order");
    // An order whose node never registers expires after the timeout.
    const third = await fleet.evaluate({ utilisation: 0.9, nodes: 1, full: false, registering: 0 }, { ...policy, orderTimeoutMs: 0 });
    expect(third.action).toBe("order");
    if (third.action !== "order") return;
    await fleet.orderRegistered(third.orderId, "node_x");
    const orders = await fleet.listOrders();
    expect(orders.map((o) => o.status).sort()).toEqual(["expired", "failed", "registered"]);
    // Spend: one registered node this month ($25.99) + another would pass a $40 cap.
    expect(await fleet.evaluate({ utilisation: 0.9, nodes: 2, full: false, registering: 0 }, { ...policy, maxMonthlySpendCents: 4_000 })).toMatchObject({
      action: "capped",
      reason: expect.stringContaining("monthly spend cap"),
    });
    expect(await fleet.evaluate({ utilisation: 0.9, nodes: 5, full: false, registering: 0 }, policy)).toMatchObject({
      action: "capped",
      reason: "node cap reached (5/5)",
    });
  });
});

describe("the Hostinger provider (official SDK against a local stand-in)", () => {
  it("stores the bootstrap as a post-install script and buys a VPS with it", async () => {
    const provider = hostingerProvider(loadEnv(env).env!)!;
    const script = bootstrapScript({
      edgeUrl: "https://app.example.com",
      token: "ocn_TOKEN'1",
      hostname: "ord-1.agents.example.com",
      acmeEmail: "ops@example.com",
    });
    expect(script).toContain(`REGISTRATION_TOKEN='ocn_TOKEN'\\''1'`); // shell-quoted
    const { providerRef } = await provider.order({ orderId: "ord_1", hostname: "ord-1.agents.example.com", bootstrapScript: script });
    expect(Number(providerRef)).toBeGreaterThan(0);
    const received = (await fetch(`http://127.0.0.1:${TEST_PORTS.hostinger}/_received`).then((r) => r.json())) as { path: string; body: any }[];
    const [scriptReq, purchase] = received.slice(-2);
    expect(scriptReq).toMatchObject({ path: "/api/vps/v1/post-install-scripts", body: { name: "openclaw-node-ord_1", content: script } });
    expect(purchase!.path).toBe("/api/vps/v1/virtual-machines");
    expect(purchase!.body).toMatchObject({
      item_id: "hostingercom-vps-kvm8-usd-1m",
      payment_method_id: 4242,
      setup: { hostname: "ord-1.agents.example.com", template_id: 1077, data_center_id: 17 },
    });
    expect(typeof purchase!.body.setup.post_install_script_id).toBe("number");
  });

  it("a refused purchase surfaces Hostinger's message", async () => {
    const provider = hostingerProvider({ ...loadEnv(env).env!, HOSTINGER_API_TOKEN: "wrong" })!;
    await expect(provider.order({ orderId: "ord_2", hostname: "ord-2.agents.example.com", bootstrapScript: "#!/bin/sh" })).rejects.toThrow(/401/);
    expect(hostingerProvider({ ...loadEnv(env).env!, HOSTINGER_API_TOKEN: undefined })).toBeUndefined();
  });
});
