import { redirect, type Actions } from "@sveltejs/kit";
import { action, api } from "$lib/server/api";
import { keep, STEPS } from "$lib/server/step-cookies";

export const actions = {
  default: action(async (event, f) => {
    const r = await api<{ status: string; challenge?: string }>(event, "/auth/login", { body: { email: f.email ?? "", password: f.password ?? "" } });
    if (r.status === "two_factor_required" && r.challenge) {
      keep(event.cookies, event.url, STEPS.twoFactor, r.challenge);
      redirect(303, "/login/2fa");
    }
    redirect(303, "/dashboard");
  }),
} satisfies Actions;
