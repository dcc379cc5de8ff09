import type { Actions } from "@sveltejs/kit";
import { savedNote } from "$lib/format";
import { action, api } from "$lib/server/api";
import { loaded } from "$lib/server/load";
import type { Personality } from "$lib/types";
import type { PageServerLoad } from "./$types";

export const load = (async (event) => loaded(async () => ({ personality: await api<Personality>(event, "/agent/personality") }))) satisfies PageServerLoad;

export const actions = {
  save: action(async (event, f) => {
    const body: Personality = { name: f.name ?? "", tone: f.tone ?? "", language: f.language ?? "", instructions: f.instructions ?? "" };
    const r = await api<{ appliedToAgent: boolean }>(event, "/agent/personality", { method: "PUT", body });
    return { saved: savedNote(r.appliedToAgent) };
  }),
} satisfies Actions;
