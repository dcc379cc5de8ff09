import type { Actions } from "@sveltejs/kit";
import { savedNote } from "$lib/format";
import { action, api } from "$lib/server/api";
import { loadAll } from "$lib/server/load";
import type { RouterConversation, RouterOption, RouterReport } from "$lib/types";
import type { PageServerLoad } from "./$types";

/** `?month=YYYY-MM` picks the report's month (a GET form); this month by default. */
export const load = (async (event) => {
  const asked = event.url.searchParams.get("month") ?? "";
  const month = /^\d{4}-\d{2}$/.test(asked) ? asked : new Date().toISOString().slice(0, 7);
  const { choice, conversations, report } = await loadAll({
    choice: api<{ model: string; options: RouterOption[] }>(event, "/agent/router"),
    conversations: api<{ conversations: RouterConversation[] }>(event, "/agent/router/conversations"),
    report: api<RouterReport>(event, `/agent/router/report?month=${month}`),
  });
  return { month, model: choice.model, options: choice.options, conversations: conversations.conversations, report };
}) satisfies PageServerLoad;

export const actions = {
  model: action(async (event, f) => {
    const r = await api<{ appliedToAgent: boolean }>(event, "/agent/router", { method: "PUT", body: { model: f.model || "auto" } });
    return { saved: savedNote(r.appliedToAgent) };
  }),
  best: action(async (event, f) => {
    await api(event, `/agent/router/conversations/${encodeURIComponent(f.key ?? "")}`, { method: "PUT", body: { best: f.best === "true" } });
    return { best: f.best === "true" };
  }),
} satisfies Actions;
