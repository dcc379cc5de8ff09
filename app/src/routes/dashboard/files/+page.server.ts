import type { Actions } from "@sveltejs/kit";
import { action, api, apiFetch, envelopeError, type ApiEvent } from "$lib/server/api";
import { loaded } from "$lib/server/load";
import type { AgentState, FileEntry } from "$lib/types";
import type { PageServerLoad } from "./$types";

/** Larger files are offered as a download only. */
const SHOW_UP_TO = 200_000;
const join = (dir: string, name: string) => (dir ? `${dir}/${name}` : name);

/** The text of one file of the agent's workspace, or why it cannot be shown (the listing stays usable). */
async function read(event: ApiEvent, path: string): Promise<{ name: string; text: string } | { name: string; error: string }> {
  const res = await apiFetch(event, `/agent/files/content?path=${encodeURIComponent(path)}`);
  if (!res.ok) return { name: path, error: envelopeError(res, await res.json().catch(() => undefined)).message };
  return { name: path, text: await res.text() };
}

/** `?path=` is the folder shown, `?view=` a file in it to show: plain links and GET forms, so no JavaScript is needed. */
export const load = (async (event) =>
  loaded(async () => {
    // Files live with the agent: before it exists there is nothing to browse.
    const { status } = await api<AgentState>(event, "/agent/status");
    if (status === "none" || status === "queued") return { noAgent: true as const };
    const path = event.url.searchParams.get("path") ?? "";
    const { entries } = await api<{ entries: FileEntry[] }>(event, `/agent/files?path=${encodeURIComponent(path)}`);
    const view = event.url.searchParams.get("view");
    const entry = view ? entries.find((e) => e.name === view && e.type === "file") : undefined;
    const viewing = !entry
      ? null
      : entry.bytes < SHOW_UP_TO
        ? await read(event, join(path, entry.name))
        : { name: join(path, entry.name), text: "(large file: use Download)" };
    return { noAgent: false as const, path, entries, viewing };
  })) satisfies PageServerLoad;

export const actions = {
  remove: action(async (event, f) => {
    await api(event, `/agent/files?path=${encodeURIComponent(f.path ?? "")}`, { method: "DELETE" });
    return { removed: f.path ?? "" };
  }),
} satisfies Actions;
