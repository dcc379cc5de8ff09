import type { Actions } from "@sveltejs/kit";
import { action, api } from "$lib/server/api";
import { loadAll } from "$lib/server/load";
import type { AdminOverview, Grant } from "$lib/types";
import type { PageServerLoad } from "./$types";

/** Operators see the console; anyone else is told it is for operators (the API refuses them the data anyway). */
export const load = (async (event) => {
  const { user } = await event.parent();
  if (user.role !== "admin") return { operator: false as const };
  const { overview, grants } = await loadAll({
    overview: api<AdminOverview>(event, "/admin/overview"),
    grants: api<{ grants: Grant[] }>(event, "/admin/grants"),
  });
  return { operator: true as const, overview, grants: grants.grants };
}) satisfies PageServerLoad;

export const actions = {
  checkFleet: action(async (event) => void (await api(event, "/admin/fleet/check", { method: "POST" }))),
  drain: action(async (event, f) => void (await api(event, `/admin/nodes/${encodeURIComponent(f.id ?? "")}/drain`, { method: "POST" }))),
  grant: action(async (event, f) => void (await api(event, "/admin/grants", { body: { email: f.email ?? "", note: f.note || undefined } }))),
  revoke: action(async (event, f) => void (await api(event, `/admin/grants/${encodeURIComponent(f.userId ?? "")}`, { method: "DELETE" }))),
} satisfies Actions;
