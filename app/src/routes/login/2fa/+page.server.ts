import { redirect, type Actions } from "@sveltejs/kit";
import { action, api, ApiError } from "$lib/server/api";
import { forget, keep, read, STEPS } from "$lib/server/step-cookies";
import type { PageServerLoad } from "./$types";

export const load: PageServerLoad = ({ url, cookies }) => {
  // Google sign-in arrives with the challenge in the URL: it moves into the step cookie and out of the URL.
  const challenge = url.searchParams.get("challenge");
  if (challenge) {
    keep(cookies, url, STEPS.twoFactor, challenge);
    redirect(303, "/login/2fa");
  }
  return { pending: !!read(cookies, STEPS.twoFactor) };
};

export const actions = {
  default: action(async (event, f) => {
    const challenge = read(event.cookies, STEPS.twoFactor);
    if (!challenge) throw new ApiError(400, "INVALID_TOKEN", "This sign-in attempt expired. Enter your email and password again.");
    try {
      await api(event, "/auth/2fa/verify", { body: { challenge, code: (f.code ?? "").trim() } });
    } catch (e) {
      // An expired or used-up challenge cannot succeed any more: the next try starts from the password.
      if (e instanceof ApiError && e.code === "INVALID_TOKEN") forget(event.cookies, event.url, STEPS.twoFactor);
      throw e;
    }
    forget(event.cookies, event.url, STEPS.twoFactor);
    redirect(303, "/dashboard");
  }),
} satisfies Actions;
