import type { Actions } from "@sveltejs/kit";
import { action, api } from "$lib/server/api";
import { loaded } from "$lib/server/load";
import type { AgentState, CronJob } from "$lib/types";
import type { PageServerLoad } from "./$types";

/** The schedule lives in the running agent's OpenClaw: only a ready agent can list it. */
export const load = (async (event) =>
  loaded(async () => {
    const { status } = await api<AgentState>(event, "/agent/status");
    if (status !== "ready") return { running: false, jobs: [] as CronJob[] };
    return { running: true, jobs: (await api<{ jobs: CronJob[] }>(event, "/agent/cron")).jobs };
  })) satisfies PageServerLoad;

export const actions = {
  add: action(async (event, f) => {
    await api(event, "/agent/cron", { body: { name: f.name ?? "", cron: f.cron ?? "", message: f.message ?? "", tz: f.tz || "UTC" } });
    return { added: f.name ?? "" };
  }),
  remove: action(async (event, f) => {
    await api(event, `/agent/cron/${encodeURIComponent(f.id ?? "")}`, { method: "DELETE" });
    return { removed: true };
  }),
} satisfies Actions;
