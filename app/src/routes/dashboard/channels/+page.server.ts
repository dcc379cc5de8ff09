import type { Actions } from "@sveltejs/kit";
import { action, api } from "$lib/server/api";
import { loaded } from "$lib/server/load";
import type { Channel, ChannelConnected } from "$lib/types";
import type { PageServerLoad } from "./$types";

export const load = (async (event) =>
  loaded(async () => ({ channels: (await api<{ channels: Channel[] }>(event, "/channels")).channels }))) satisfies PageServerLoad;

const kindOf = (f: Record<string, string>) => encodeURIComponent(f.kind ?? "");

export const actions = {
  /** The channel's credentials go to the API in the body; empty optional fields are left out. */
  connect: action(async (event, f) => {
    const { kind, ...fields } = f;
    const body = Object.fromEntries(
      Object.entries(fields)
        .filter(([, v]) => v.trim() !== "")
        .map(([k, v]) => [k, v.trim()]),
    );
    const result = await api<ChannelConnected>(event, `/channels/${kindOf(f)}`, { body });
    return { connected: kind ?? "", result };
  }),
  disconnect: action(async (event, f) => {
    await api(event, `/channels/${kindOf(f)}`, { method: "DELETE" });
    return { disconnected: f.kind ?? "" };
  }),
  alwaysOn: action(async (event, f) => {
    const r = await api<{ alwaysOn: boolean }>(event, "/agent/idle", {
      method: "PUT",
      body: { idleMinutes: 30, deepSleepMinutes: 120, alwaysOn: f.alwaysOn === "on" },
    });
    return { alwaysOnSaved: r.alwaysOn };
  }),
} satisfies Actions;
