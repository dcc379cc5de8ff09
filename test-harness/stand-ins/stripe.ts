// DEV/TEST ONLY: a local stand-in for the Stripe API. It answers the routes the platform calls through the
// official `stripe` SDK (customers, Checkout, billing portal, invoices, subscriptions, payment intents) and,
// like Stripe, sends signed webhook events to the edge (signed with the SDK's own test helper). Nothing here
// moves money. Test/dev controls live under /_ (complete a checkout, renew, decline a card, replay an event).
//
//   node test-harness/stand-ins/stripe.ts --port 24340 --webhook http://localhost:8787/api/webhooks/stripe --secret whsec_dev
import http from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";

/** Parses Stripe's form encoding (`a[b][0][c]=v`) into nested objects and arrays. */
// Stripe objects and form bodies are loose JSON here, as they are on the wire.
type Obj = any;
type Reply = { status: number; json?: unknown; html?: string; headers?: Record<string, string> };

export function parseForm(body: string): Obj {
  const out: Obj = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const keys = rawKey.replace(/\]/g, "").split("[");
    let node = out;
    keys.forEach((k, i) => {
      const last = i === keys.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(keys[i + 1]!);
      if (last) node[k] = value;
      else node = node[k] ??= nextIsIndex ? [] : {};
    });
  }
  return out;
}

const now = () => Math.floor(Date.now() / 1000);
let counter = 0;
const id = (prefix: string) => `${prefix}_${Date.now().toString(36)}${(counter++).toString(36).padStart(4, "0")}`;

export interface StripeStandInOptions {
  port?: number;
  /** Where to send signed events; without it (tests inside workerd) the caller gets them to deliver itself. */
  webhookUrl?: string;
  webhookSecret?: string;
  apiKey?: string;
  /** Price id → amount in cents. */
  prices?: Record<string, number>;
}

export async function startStripeStandIn({ port = 0, webhookUrl, webhookSecret = "", apiKey, prices = {} }: StripeStandInOptions = {}) {
  const signer = new Stripe("sk_test_signer");
  const db = {
    customers: new Map<string, Obj>(),
    sessions: new Map<string, Obj>(),
    subscriptions: new Map<string, Obj>(),
    invoices: new Map<string, Obj>(),
    intents: new Map<string, Obj>(),
    events: [] as Obj[],
  };
  const declining = new Set<string>();
  const requests: Obj[] = [];
  const base = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  /** Sends one event to the edge like Stripe does: JSON body, Stripe-Signature header. */
  async function deliver(event: Obj): Promise<{ status: number; body?: string }> {
    if (!webhookUrl) return { status: 0 };
    const payload = JSON.stringify(event);
    const header = signer.webhooks.generateTestHeaderString({ payload, secret: webhookSecret });
    const res = await fetch(webhookUrl, { method: "POST", headers: { "content-type": "application/json", "stripe-signature": header }, body: payload });
    const text = await res.text();
    return { status: res.status, body: text };
  }
  function event(type: string, object: Obj) {
    const e = {
      id: id("evt"),
      object: "event",
      api_version: "2025-10-29.clover",
      created: now(),
      type,
      livemode: false,
      data: { object: structuredClone(object) },
    };
    db.events.push(e);
    return e;
  }
  async function emit(events: Obj[], order?: string | null) {
    const list = order === "reverse" ? [...events].reverse() : events;
    const results: Obj[] = [];
    // Without a webhook URL (tests inside workerd) the caller gets the events to sign and deliver itself.
    for (const e of list) results.push({ id: e.id, type: e.type, ...(await deliver(e)), event: webhookUrl ? undefined : e });
    return results;
  }
  const priceAmount = (priceId: string) => prices[priceId] ?? 1000;

  function invoiceFor(sub: Obj, reason: string, amount: number) {
    const inv = {
      id: id("in"),
      object: "invoice",
      customer: sub.customer,
      subscription: sub.id,
      status: "paid",
      billing_reason: reason,
      currency: "usd",
      amount_paid: amount,
      amount_due: amount,
      total: amount,
      created: now(),
      hosted_invoice_url: `${base()}/invoices/${counter}`,
      number: `DEV-${counter}`,
      lines: { object: "list", data: [{ price: sub.items.data[0].price, amount }] },
      parent: { subscription_details: { subscription: sub.id, metadata: sub.metadata } },
    };
    db.invoices.set(inv.id, inv);
    return inv;
  }

  /** What paying at Checkout does: a card saved as default, then a subscription + invoice, or a payment. */
  async function complete(sessionId: string, order?: string | null): Promise<Reply> {
    const s = db.sessions.get(sessionId);
    if (!s) return { status: 404, json: { error: { message: "no such session" } } };
    if (s.status === "complete") return { status: 409, json: { error: { message: "session already completed" } } };
    const customer = db.customers.get(s.customer);
    customer.invoice_settings.default_payment_method = "pm_card_visa";
    s.status = "complete";
    s.payment_status = "paid";
    const events: Obj[] = [];
    if (s.mode === "subscription") {
      const price = s.line_items[0].price;
      const sub = {
        id: id("sub"),
        object: "subscription",
        customer: s.customer,
        status: "active",
        metadata: s.subscription_data?.metadata ?? {},
        cancel_at_period_end: false,
        items: { object: "list", data: [{ id: id("si"), price: { id: price }, current_period_end: now() + 30 * 86400 }] },
        created: now(),
      };
      db.subscriptions.set(sub.id, sub);
      s.subscription = sub.id;
      s.amount_total = priceAmount(price);
      const inv = invoiceFor(sub, "subscription_create", priceAmount(price));
      s.invoice = inv.id;
      events.push(event("checkout.session.completed", s), event("customer.subscription.created", sub), event("invoice.paid", inv));
    } else {
      const pi = {
        id: id("pi"),
        object: "payment_intent",
        amount: s.amount_total,
        currency: "usd",
        customer: s.customer,
        status: "succeeded",
        metadata: s.metadata ?? {},
      };
      db.intents.set(pi.id, pi);
      s.payment_intent = pi.id;
      events.push(event("checkout.session.completed", s));
    }
    return { status: 200, json: { session: s, deliveries: await emit(events, order) } };
  }

  async function route(req: http.IncomingMessage, url: URL, form: Obj): Promise<Reply> {
    const p = url.pathname;
    // ── test and dev controls ──
    if (p === "/_requests") return { status: 200, json: requests };
    if (p === "/_events") return { status: 200, json: db.events };
    let m: RegExpMatchArray | null;
    if ((m = p.match(/^\/_complete\/(cs_\w+)$/))) return complete(m[1]!, url.searchParams.get("order"));
    if ((m = p.match(/^\/_renew\/(sub_\w+)$/))) {
      const sub = db.subscriptions.get(m[1]!);
      sub.items.data[0].current_period_end = now() + 30 * 86400;
      return {
        status: 200,
        json: { deliveries: await emit([event("invoice.paid", invoiceFor(sub, "subscription_cycle", priceAmount(sub.items.data[0].price.id)))]) },
      };
    }
    if ((m = p.match(/^\/_end\/(sub_\w+)$/))) {
      const sub = db.subscriptions.get(m[1]!);
      sub.status = "canceled";
      return { status: 200, json: { deliveries: await emit([event("customer.subscription.deleted", sub)]) } };
    }
    if ((m = p.match(/^\/_decline\/(cus_\w+)$/))) return (declining.add(m[1]!), { status: 200, json: {} });
    if ((m = p.match(/^\/_replay\/(evt_\w+)$/))) {
      const wanted = m[1];
      const e = db.events.find((x) => x.id === wanted);
      return { status: 200, json: await deliver(e) };
    }
    // Checkout's hosted page, for `npm run dev` in a browser: one button that pays (nothing is charged).
    if ((m = p.match(/^\/checkout\/(cs_\w+)$/)) && req.method === "GET") {
      const s = db.sessions.get(m[1]!);
      if (!s) return { status: 404, html: "no such checkout" };
      const total = ((s.amount_total ?? priceAmount(s.line_items?.[0]?.price)) / 100).toFixed(2);
      return {
        status: 200,
        html: `<!doctype html><title>Test checkout</title><link rel="icon" href="data:,"><meta name="viewport" content="width=device-width, initial-scale=1"><body style="font-family:system-ui;max-width:420px;margin:60px auto"><p style="color:#b45309">DEV ONLY: local Stripe stand-in. No money moves.</p><h1>Pay $${total}</h1><form method="post" action="/checkout/${s.id}/pay"><button id="pay" style="font-size:18px;padding:10px 24px">Pay (test card)</button></form><p><a href="${s.cancel_url}">Cancel</a></p></body>`,
      };
    }
    if ((m = p.match(/^\/checkout\/(cs_\w+)\/pay$/)) && req.method === "POST") {
      const done = await complete(m[1]!);
      if (done.status !== 200) return done;
      return { status: 303, headers: { location: db.sessions.get(m[1]!).success_url.replace("{CHECKOUT_SESSION_ID}", m[1]!) } };
    }
    // Browsers ask for it on every hosted page; a 401 from the API branch below would read as an error.
    if (p === "/favicon.ico") return { status: 204, html: "" };
    if (p.startsWith("/portal/"))
      return {
        status: 200,
        html: '<!doctype html><title>Billing portal</title><link rel="icon" href="data:,"><p>DEV ONLY: Stripe\'s customer portal would be here.</p>',
      };

    // ── the Stripe API ──
    if (req.headers.authorization !== `Bearer ${apiKey}`)
      return { status: 401, json: { error: { type: "invalid_request_error", message: "Invalid API Key provided" } } };
    if (p === "/v1/customers" && req.method === "POST") {
      const c = {
        id: id("cus"),
        object: "customer",
        email: form.email ?? null,
        metadata: form.metadata ?? {},
        invoice_settings: { default_payment_method: null },
      };
      db.customers.set(c.id, c);
      return { status: 200, json: c };
    }
    if ((m = p.match(/^\/v1\/customers\/(cus_\w+)$/))) {
      const c = db.customers.get(m[1]!);
      return c ? { status: 200, json: c } : notFound("customer", m[1]!);
    }
    if (p === "/v1/checkout/sessions" && req.method === "POST") {
      if (!form.customer || !db.customers.has(form.customer)) return notFound("customer", form.customer);
      const items = form.line_items ?? [];
      if (form.mode === "subscription" && !(items[0]?.price in prices)) return notFound("price", items[0]?.price);
      const s: Obj = {
        id: id("cs"),
        object: "checkout.session",
        mode: form.mode,
        status: "open",
        payment_status: "unpaid",
        customer: form.customer,
        client_reference_id: form.client_reference_id ?? null,
        metadata: form.metadata ?? {},
        success_url: form.success_url,
        cancel_url: form.cancel_url,
        subscription_data: form.subscription_data,
        line_items: items,
        amount_total: form.mode === "payment" ? Number(items[0]?.price_data?.unit_amount ?? 0) * Number(items[0]?.quantity ?? 1) : null,
      };
      s.url = `${base()}/checkout/${s.id}`;
      db.sessions.set(s.id, s);
      return { status: 200, json: s };
    }
    if (p === "/v1/billing_portal/sessions" && req.method === "POST") {
      if (!db.customers.has(form.customer)) return notFound("customer", form.customer);
      const sid = id("bps");
      return {
        status: 200,
        json: { id: sid, object: "billing_portal.session", customer: form.customer, return_url: form.return_url, url: `${base()}/portal/${sid}` },
      };
    }
    if (p === "/v1/invoices" && req.method === "GET") {
      const customer = url.searchParams.get("customer");
      const data = [...db.invoices.values()].filter((i) => i.customer === customer).reverse();
      return { status: 200, json: { object: "list", data, has_more: false, url: "/v1/invoices" } };
    }
    if ((m = p.match(/^\/v1\/subscriptions\/(sub_\w+)$/))) {
      const sub = db.subscriptions.get(m[1]!);
      if (!sub) return notFound("subscription", m[1]!);
      if (req.method === "GET") return { status: 200, json: sub };
      if (req.method === "DELETE") {
        // Cancelled at once (an account deletion): Stripe answers with the subscription, then sends .deleted.
        sub.status = "canceled";
        setTimeout(() => emit([event("customer.subscription.deleted", sub)]), 0);
        return { status: 200, json: sub };
      }
      const events: Obj[] = [];
      let proration: Obj; // Stripe sends the subscription update first, then the proration invoice
      if (form.items?.[0]?.price) {
        if (!(form.items[0].price in prices)) return notFound("price", form.items[0].price);
        const before = priceAmount(sub.items.data[0].price.id);
        sub.items.data[0].price = { id: form.items[0].price };
        const diff = priceAmount(form.items[0].price) - before;
        if (form.proration_behavior !== "none" && diff > 0) proration = invoiceFor(sub, "subscription_update", diff);
      }
      if (form.cancel_at_period_end !== undefined) sub.cancel_at_period_end = form.cancel_at_period_end === "true";
      events.push(event("customer.subscription.updated", sub));
      if (proration) events.push(event("invoice.paid", proration));
      setTimeout(() => emit(events), 0); // Stripe sends events after answering
      return { status: 200, json: sub };
    }
    if (p === "/v1/payment_intents" && req.method === "POST") {
      const customer = db.customers.get(form.customer);
      if (!customer) return notFound("customer", form.customer);
      const pm = form.payment_method ?? customer.invoice_settings.default_payment_method;
      const pi: Obj = {
        id: id("pi"),
        object: "payment_intent",
        amount: Number(form.amount),
        currency: form.currency,
        customer: form.customer,
        payment_method: pm,
        metadata: form.metadata ?? {},
        status: "succeeded",
      };
      if (!pm || declining.has(form.customer)) {
        pi.status = "requires_payment_method";
        pi.last_payment_error = { code: "card_declined", message: "Your card was declined." };
        db.intents.set(pi.id, pi);
        setTimeout(() => emit([event("payment_intent.payment_failed", pi)]), 0);
        return {
          status: 402,
          json: {
            error: { type: "card_error", code: "card_declined", decline_code: "generic_decline", message: "Your card was declined.", payment_intent: pi },
          },
        };
      }
      db.intents.set(pi.id, pi);
      setTimeout(() => emit([event("payment_intent.succeeded", pi)]), 0);
      return { status: 200, json: pi };
    }
    return { status: 404, json: { error: { type: "invalid_request_error", message: `Unrecognized request URL (${req.method}: ${p})` } } };
  }

  const notFound = (what: string, which: string): Reply => ({
    status: 400,
    json: { error: { type: "invalid_request_error", code: "resource_missing", message: `No such ${what}: '${which}'` } },
  });

  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", async () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const form = parseForm(req.method === "GET" ? url.search.slice(1) : body);
      if (url.pathname.startsWith("/v1/"))
        requests.push({ method: req.method, path: url.pathname, form, idempotencyKey: req.headers["idempotency-key"] ?? null });
      try {
        const out = await route(req, url, form);
        if (out.html !== undefined) res.writeHead(out.status, { "content-type": "text/html; charset=utf-8", ...out.headers }).end(out.html);
        else res.writeHead(out.status, { "content-type": "application/json", ...out.headers }).end(out.json === undefined ? "" : JSON.stringify(out.json));
      } catch (e) {
        res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { type: "api_error", message: String(e) } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { server, url: base(), close: () => server.close() };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, fallback?: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return (i > 0 ? process.argv[i + 1] : undefined) ?? fallback;
  };
  const { url } = await startStripeStandIn({
    port: Number(arg("port", "24340")),
    webhookUrl: arg("webhook"),
    webhookSecret: arg("secret", "whsec_dev"),
    apiKey: arg("key", "sk_test_dev"),
    prices: { price_starter: 1200, price_pro: 2500, price_max: 5000 },
  });
  console.log(`[stripe stand-in] DEV ONLY, listening on ${url}`);
}
