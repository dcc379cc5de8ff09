import type { Actions } from "@sveltejs/kit";
import { savedNote } from "$lib/format";
import { action, api } from "$lib/server/api";
import { loaded } from "$lib/server/load";
import type { BrowserState } from "$lib/types";
import type { PageServerLoad } from "./$types";

export const load = (async (event) => loaded(async () => ({ browser: await api<BrowserState>(event, "/agent/browser") }))) satisfies PageServerLoad;

export const actions = {
  toggle: action(async (event, f) => {
    const r = await api<{ appliedToAgent: boolean }>(event, "/agent/browser", { method: "PUT", body: { enabled: f.enabled === "true" } });
    return { note: savedNote(r.appliedToAgent) };
  }),
} satisfies Actions;
