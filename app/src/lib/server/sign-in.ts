import { redirect, type RequestEvent } from "@sveltejs/kit";
import { api } from "./api";
import { keep, STEPS } from "./step-cookies";

/**
 * Signs in with email and password (the API sets the session cookie, passed on to the browser), then goes
 * to the dashboard, or to the 2FA step with the challenge kept in a step cookie instead of the URL.
 */
export async function signIn(event: RequestEvent, email: string, password: string): Promise<never> {
  const r = await api<{ status: string; challenge?: string }>(event, "/auth/login", { body: { email, password } });
  if (r.status === "two_factor_required" && r.challenge) {
    keep(event.cookies, event.url, STEPS.twoFactor, r.challenge);
    redirect(303, "/login/2fa");
  }
  redirect(303, "/dashboard");
}
