import Stripe from "stripe";
import { AppError } from "@oc/contracts/errors";
import { PLANS, type Plan } from "@oc/contracts/plans";
import type { Env } from "../../env";

const clients = new WeakMap<object, Stripe>();

/**
 * The official Stripe SDK on the Workers runtime (fetch HTTP client). STRIPE_API_BASE, dev and test only,
 * points it at the local stand-in (test-harness/stand-ins/stripe.ts).
 */
export function stripeFor(env: Env): Stripe {
  if (!env.STRIPE_SECRET_KEY) throw new AppError("BILLING_UNAVAILABLE", "Payments are not set up on this server yet. Please try again later.");
  let client = clients.get(env);
  if (!client) {
    const base = env.STRIPE_API_BASE ? new URL(env.STRIPE_API_BASE) : undefined;
    client = new Stripe(env.STRIPE_SECRET_KEY, {
      httpClient: Stripe.createFetchHttpClient(),
      maxNetworkRetries: 2,
      ...(base ? { host: base.hostname, port: Number(base.port || 80), protocol: base.protocol.replace(":", "") as "http" | "https" } : {}),
    });
    clients.set(env, client);
  }
  return client;
}

export const webCrypto = Stripe.createSubtleCryptoProvider();

/** The Stripe price of a plan: STRIPE_PRICE_<PLAN>, or `price_<plan>` outside production (the stand-in's). */
export function priceIdFor(env: Env, plan: Plan): string {
  const configured = env[`STRIPE_PRICE_${plan.id.toUpperCase()}` as "STRIPE_PRICE_STARTER"];
  return configured ?? `price_${plan.id}`;
}

export function planForPrice(env: Env, priceId: string | undefined): Plan | undefined {
  return PLANS.find((p) => priceIdFor(env, p) === priceId);
}
