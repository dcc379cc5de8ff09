import { api } from "$lib/server/api";
import { loaded } from "$lib/server/load";
import type { AgentState } from "$lib/types";
import type { PageServerLoad } from "./$types";

export const load = (async (event) => loaded(async () => ({ events: (await api<AgentState>(event, "/agent/status")).activity }))) satisfies PageServerLoad;
