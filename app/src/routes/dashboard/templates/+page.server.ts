import type { Actions } from "@sveltejs/kit";
import { action, api } from "$lib/server/api";
import { loaded } from "$lib/server/load";
import type { Template } from "$lib/types";
import type { PageServerLoad } from "./$types";

export const load = (async (event) =>
  loaded(async () => ({ templates: (await api<{ templates: Template[] }>(event, "/templates")).templates }))) satisfies PageServerLoad;

export const actions = {
  apply: action(async (event, f) => {
    const r = await api<{ appliedToAgent: boolean }>(event, `/templates/${encodeURIComponent(f.id ?? "")}/apply`, { method: "POST" });
    return { notice: `"${f.name}" applied${r.appliedToAgent ? "; your agent restarts with it" : ""}.` };
  }),
  publish: action(async (event, f) => {
    await api(event, "/templates", { body: { name: f.name ?? "", description: f.description ?? "" } });
    return { notice: "Published: others can now start from your configuration." };
  }),
} satisfies Actions;
