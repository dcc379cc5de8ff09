import { signedIn } from "$lib/server/load";
import type { LayoutServerLoad } from "./$types";

export const load = (async (event) => ({ user: await signedIn(event) })) satisfies LayoutServerLoad;
