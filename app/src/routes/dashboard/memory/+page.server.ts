import type { Actions } from "@sveltejs/kit";
import { action, api } from "$lib/server/api";
import { loadAll } from "$lib/server/load";
import type { Memory } from "$lib/types";
import type { PageServerLoad } from "./$types";

type Memories = { memories: Memory[]; memoryFile: string | null };

/** `?q=` searches by meaning (a GET form); the memory file is always the whole one. */
export const load = (async (event) => {
  const q = event.url.searchParams.get("q")?.trim() ?? "";
  const { all, found } = await loadAll({
    all: api<Memories>(event, "/agent/memories"),
    found: q ? api<Memories>(event, `/agent/memories?q=${encodeURIComponent(q)}`) : Promise.resolve(null),
  });
  return { q, memories: (found ?? all).memories, memoryFile: all.memoryFile };
}) satisfies PageServerLoad;

export const actions = {
  add: action(async (event, f) => {
    const r = await api<{ synced: boolean }>(event, "/agent/memories", { body: { content: f.content ?? "" } });
    return { notice: r.synced ? "Remembered. Your agent has it now." : "Saved. Your agent gets it when it is next reachable." };
  }),
  forget: action(async (event, f) => {
    await api(event, `/agent/memories/${encodeURIComponent(f.id ?? "")}`, { method: "DELETE" });
    return { notice: "Forgotten." };
  }),
} satisfies Actions;
