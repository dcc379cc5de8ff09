import { redirect, type Actions } from "@sveltejs/kit";
import { action, api } from "$lib/server/api";
import { loadAll } from "$lib/server/load";
import type { Offers, Usage } from "$lib/types";
import type { PageServerLoad } from "./$types";

export const load = (async (event) => {
  const { usage, offers } = await loadAll({ usage: api<Usage>(event, "/usage?days=30"), offers: api<Offers>(event, "/billing/plans") });
  return { usage, packs: offers.packs };
}) satisfies PageServerLoad;

export const actions = {
  /** A token pack is bought on Stripe Checkout: the browser is sent there. */
  buyPack: action(async (event, f) => {
    const { url } = await api<{ url: string }>(event, "/billing/packs/checkout", { body: { pack: f.pack ?? "" } });
    redirect(303, url);
  }),
} satisfies Actions;
