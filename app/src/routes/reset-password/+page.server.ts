import { redirect, type Actions } from "@sveltejs/kit";
import { action, api, ApiError } from "$lib/server/api";
import { forget, keep, read, STEPS } from "$lib/server/step-cookies";
import type { PageServerLoad } from "./$types";

export const load: PageServerLoad = ({ url, cookies }) => {
  // The mail link carries the token: it moves into the step cookie, and the address bar keeps a clean URL.
  const token = url.searchParams.get("token");
  if (token) {
    keep(cookies, url, STEPS.reset, token);
    redirect(303, "/reset-password");
  }
  return { pending: !!read(cookies, STEPS.reset) };
};

export const actions = {
  default: action(async (event, f) => {
    const token = read(event.cookies, STEPS.reset);
    if (!token) throw new ApiError(400, "INVALID_TOKEN", "This reset link has expired. Ask for a new one.");
    try {
      await api(event, "/auth/password/reset", { body: { token, password: f.password ?? "" } });
    } catch (e) {
      if (e instanceof ApiError && e.code === "INVALID_TOKEN") forget(event.cookies, event.url, STEPS.reset);
      throw e;
    }
    forget(event.cookies, event.url, STEPS.reset);
    redirect(303, "/login?reset=done");
  }),
} satisfies Actions;
