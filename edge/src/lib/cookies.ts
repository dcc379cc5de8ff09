import type { Context } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import type { Env } from "../env";

/** `__Host-` in production: the browser then insists on Secure, Path=/ and no Domain. */
export const sessionCookieName = (env: Pick<Env, "ENVIRONMENT">) => (env.ENVIRONMENT === "production" ? "__Host-oc_session" : "oc_session");

export function setSessionCookie(c: Context, env: Env, token: string, expires: Date) {
  setCookie(c, sessionCookieName(env), token, {
    httpOnly: true,
    secure: env.ENVIRONMENT === "production",
    sameSite: "Lax",
    path: "/",
    expires,
  });
}

export function clearSessionCookie(c: Context, env: Env) {
  deleteCookie(c, sessionCookieName(env), { path: "/", secure: env.ENVIRONMENT === "production" });
}
