import { api } from "$lib/server/api";
import { loaded } from "$lib/server/load";
import type { Message } from "$lib/types";
import type { PageServerLoad } from "./$types";

/** The search is a GET form: `?q=` is what was searched for (what the user asked, not a secret). */
export const load = (async (event) => {
  const q = event.url.searchParams.get("q")?.trim() ?? "";
  const query = new URLSearchParams({ limit: "200", ...(q ? { q } : {}) });
  return loaded(async () => ({ q, messages: (await api<{ messages: Message[] }>(event, `/agent/messages?${query}`)).messages }));
}) satisfies PageServerLoad;
