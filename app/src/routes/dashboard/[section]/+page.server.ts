import { error } from "@sveltejs/kit";
import type { PageServerLoad } from "./$types";

/** Every dashboard page has its own folder: any other address under /dashboard is not a page. */
export const load = (() => error(404, "Page not found")) satisfies PageServerLoad;
