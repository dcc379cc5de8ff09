import type { Actions } from "@sveltejs/kit";
import { action, api } from "$lib/server/api";
import { loaded } from "$lib/server/load";
import type { Skill } from "$lib/types";
import type { PageServerLoad } from "./$types";

export const load = (async (event) =>
  loaded(async () => ({ skills: (await api<{ skills: Skill[] }>(event, "/agent/skills")).skills }))) satisfies PageServerLoad;

export const actions = {
  toggle: action(async (event, f) => {
    const enabled = f.enabled === "true";
    const r = await api<{ appliedToAgent: boolean }>(event, "/agent/skills", { method: "PUT", body: { changes: [{ name: f.name ?? "", enabled }] } });
    return { notice: `${f.name} is ${enabled ? "on" : "off"}${r.appliedToAgent ? "; your agent restarts with it (about 10 seconds)" : ""}.` };
  }),
} satisfies Actions;
