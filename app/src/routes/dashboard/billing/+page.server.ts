import { redirect, type Actions } from "@sveltejs/kit";
import { action, api, type ApiEvent } from "$lib/server/api";
import { loadAll } from "$lib/server/load";
import type { BillingOverview, Invoice, Offers } from "$lib/types";
import type { PageServerLoad } from "./$types";

export const load = (async (event) => {
  const { offers, overview, invoices } = await loadAll({
    offers: api<Offers>(event, "/billing/plans"),
    overview: api<BillingOverview>(event, "/billing"),
    invoices: api<{ invoices: Invoice[] }>(event, "/billing/invoices"),
  });
  return { plans: offers.plans, packs: offers.packs, overview, invoices: invoices.invoices };
}) satisfies PageServerLoad;

/** A billing call that may answer with a Stripe page (Checkout, the customer portal): the browser goes there. */
async function go(event: ApiEvent, path: string, body?: unknown) {
  const r = await api<{ url?: string }>(event, path, body === undefined ? { method: "POST" } : { body });
  if (r.url) redirect(303, r.url);
  return { done: path };
}

export const actions = {
  checkout: action((event, f) => go(event, "/billing/checkout", { plan: f.plan ?? "" })),
  switchPlan: action((event, f) => go(event, "/billing/plan", { plan: f.plan ?? "" })),
  buyPack: action((event, f) => go(event, "/billing/packs/checkout", { pack: f.pack ?? "" })),
  portal: action((event) => go(event, "/billing/portal")),
  cancel: action((event) => go(event, "/billing/cancel")),
} satisfies Actions;
