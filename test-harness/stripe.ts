import Stripe from "stripe";

/**
 * Stripe's side of a payment, for tests: events signed with the official SDK's own test helper (the async
 * variant over SubtleCrypto, so it runs inside workerd as well as in Node), and Checkout completed at the
 * local stand-in (test-harness/stand-ins/stripe.ts) as a customer paying with the test card would.
 */
export type StripeEvent = { id: string; type: string; created: number; data: { object: any } };

const signer = new Stripe("sk_test_signer", { httpClient: Stripe.createFetchHttpClient() });
const cryptoProvider = Stripe.createSubtleCryptoProvider();

/** The `Stripe-Signature` header Stripe would send with `payload`. */
export function stripeSignature(payload: string, secret: string, timestamp?: number): Promise<string> {
  return signer.webhooks.generateTestHeaderStringAsync({ payload, secret, timestamp, cryptoProvider });
}

/**
 * One webhook delivery as Stripe makes it: the JSON body and its signature headers, shaped for the edge
 * suite's `call()` (`rawBody`, `headers`); `signature` replaces the real one (forgery tests).
 */
export async function signedWebhook(event: unknown, secret: string, opts: { timestamp?: number; signature?: string } = {}) {
  const rawBody = typeof event === "string" ? event : JSON.stringify(event);
  const signature = opts.signature ?? (await stripeSignature(rawBody, secret, opts.timestamp));
  return { rawBody, headers: { "content-type": "application/json", "stripe-signature": signature } };
}

/**
 * Pays a Checkout session at the stand-in (its `/_complete` control, what "Pay (test card)" does) and
 * returns the events Stripe sends for it. A stand-in started without a webhook URL (the edge suite) hands
 * them back for the test to sign and deliver; one with a webhook URL (dev, e2e) has delivered them already.
 */
export async function completeCheckout(standIn: string, sessionId: string, order?: "reverse"): Promise<StripeEvent[]> {
  const res = await fetch(`${standIn}/_complete/${sessionId}${order ? `?order=${order}` : ""}`, { method: "POST" });
  if (!res.ok) throw new Error(`complete ${sessionId}: ${res.status} ${await res.text()}`);
  const done = (await res.json()) as { deliveries: { event?: StripeEvent }[] };
  return done.deliveries.flatMap((d) => (d.event ? [d.event] : []));
}
