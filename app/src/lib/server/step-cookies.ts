import type { Cookies } from "@sveltejs/kit";

/**
 * Short-lived, HttpOnly cookies that carry a one-time value from one step of a form flow to the next, so it
 * never sits in a URL (history, logs, Referer): the 2FA challenge between password and code, and the reset
 * token between the mail link and the new-password form. Each is scoped to the path that reads it.
 */
export const STEPS = {
  twoFactor: { name: "oc_2fa_challenge", path: "/login", maxAge: 5 * 60 },
  reset: { name: "oc_reset_token", path: "/reset-password", maxAge: 60 * 60 },
} as const;

type Step = (typeof STEPS)[keyof typeof STEPS];

export function keep(cookies: Cookies, url: URL, step: Step, value: string) {
  cookies.set(step.name, value, { path: step.path, maxAge: step.maxAge, httpOnly: true, sameSite: "lax", secure: url.protocol === "https:" });
}

export const read = (cookies: Cookies, step: Step) => cookies.get(step.name);

export function forget(cookies: Cookies, url: URL, step: Step) {
  cookies.delete(step.name, { path: step.path, secure: url.protocol === "https:" });
}
