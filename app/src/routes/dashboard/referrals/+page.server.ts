import { api } from "$lib/server/api";
import { loaded } from "$lib/server/load";
import type { Referrals } from "$lib/types";
import type { PageServerLoad } from "./$types";

export const load = (async (event) => loaded(async () => ({ referrals: await api<Referrals>(event, "/referrals") }))) satisfies PageServerLoad;
