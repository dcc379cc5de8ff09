import { fail, type Cookies, type RequestEvent } from "@sveltejs/kit";
import { dev } from "$app/environment";
import type { ErrorEnvelope } from "@oc/contracts/errors";

/**
 * The app's server side of the API: form actions and server loads call the Hono API in process
 * (`platform.env.API`, see edge/src/worker.ts) with the browser's cookie, address and user agent, so the API
 * applies the checks it applies to the browser (session, rate limits per IP, its same-origin check on writes).
 * Cookies the API sets (the session on sign-in, its removal on sign-out) are passed on to the browser, and
 * the API's error envelope becomes `fail(status, { message, code, requestId })` for the page to show (actions) or
 * the dashboard's error page (loads, through `load.ts`).
 */
export class ApiError extends Error {
  /** More for the page when a form action fails (e.g. what to show again). */
  extra: Record<string, unknown> = {};
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The API's id for this request (its logs carry it), for support. */
    readonly requestId = "",
  ) {
    super(message);
  }
}

/** The request headers the API reads: the client's address (rate limits, device list) and its user agent. */
const FORWARDED = ["cf-connecting-ip", "user-agent"];
const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** What a call needs of the request it serves (a load's or an action's event). */
export type ApiEvent = Pick<RequestEvent, "request" | "cookies" | "url" | "platform">;
type Event = ApiEvent;
type Init = { method?: string; body?: unknown; /** Send no session cookie (token-authenticated calls). */ anonymous?: boolean };

export async function apiFetch(event: Event, path: string, init: Init = {}) {
  const headers = new Headers();
  for (const name of FORWARDED) {
    const value = event.request.headers.get(name);
    if (value) headers.set(name, value);
  }
  // The API refuses cookie-authenticated writes that do not come from the app's own origin. A form post that
  // reached an action or endpoint here has passed SvelteKit's own origin check (kit.csrf: the browser's
  // Origin must be this app's), so the call says it comes from the app. `vite dev` skips that check, so there
  // the browser's own Origin is passed on and the API judges it. Loads (GET) claim nothing.
  if (WRITES.has(event.request.method)) {
    const origin = dev ? event.request.headers.get("origin") : appOrigin(event);
    if (origin) headers.set("origin", origin);
  }
  // From the cookie jar, not the raw header: a cookie set earlier in this request (sign-in) counts.
  const cookie = init.anonymous
    ? ""
    : event.cookies
        .getAll({ decode: (v) => v })
        .map((c) => `${c.name}=${c.value}`)
        .join("; ");
  if (cookie) headers.set("cookie", cookie);
  if (init.body !== undefined) headers.set("content-type", "application/json");
  const request = new Request(new URL(`/api${path}`, event.url), {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  // Without the in-process binding (`vite dev` for UI work) the request goes over HTTP; vite proxies /api.
  const binding = event.platform?.env?.API;
  const response = binding ? await binding.fetch(request) : await fetch(request);
  for (const header of response.headers.getSetCookie()) applySetCookie(event.cookies, header);
  return response;
}

/** APP_URL's origin (the one the API trusts); the request's own where the env does not say. */
function appOrigin(event: Event) {
  const configured = event.platform?.env?.APP_URL;
  return configured ? new URL(configured).origin : event.url.origin;
}

/** Calls the API and returns its JSON, or throws ApiError with the envelope's code and message. */
export async function api<T = unknown>(event: Event, path: string, init: Init = {}): Promise<T> {
  const response = await apiFetch(event, path, init);
  const data = (await response.json().catch(() => undefined)) as Partial<ErrorEnvelope> | undefined;
  if (!response.ok) throw envelopeError(response, data);
  return data as T;
}

/** The API's error envelope (or whatever came instead) as an ApiError. */
export function envelopeError(response: Response, data: Partial<ErrorEnvelope> | undefined) {
  const error = data?.error;
  return new ApiError(response.status, error?.code ?? "INTERNAL", error?.message ?? `Request failed (${response.status}).`, error?.requestId ?? "");
}

/** Form fields that are never sent back to the page: what the user typed there stays out of every response. */
const SECRET_FIELD = /password|code|token|challenge|secret/i;

/**
 * Wraps a form action: the form's fields arrive as strings, and an ApiError becomes `fail(status, …)` with the
 * message, the code and the non-secret fields, so the page (with or without JavaScript) shows the problem and
 * keeps what was typed. Anything else (a redirect, a real crash) passes through.
 */
export function action<R>(run: (event: RequestEvent, form: Record<string, string>, data: FormData) => Promise<R>) {
  return async (event: RequestEvent) => {
    const data = await event.request.formData();
    const form: Record<string, string> = {};
    for (const [k, v] of data) if (typeof v === "string") form[k] = v;
    try {
      return await run(event, form, data);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const values = Object.fromEntries(Object.entries(form).filter(([k]) => !SECRET_FIELD.test(k)));
      return fail(e.status >= 400 && e.status <= 599 ? e.status : 500, { ...e.extra, message: e.message, code: e.code, requestId: e.requestId, values });
    }
  };
}

/** Copies one Set-Cookie of the API's answer into SvelteKit's cookie jar, attribute for attribute. */
export function applySetCookie(cookies: Cookies, header: string) {
  const [pair = "", ...attributes] = header.split(";");
  const eq = pair.indexOf("=");
  if (eq <= 0) return;
  const name = pair.slice(0, eq).trim();
  const value = pair.slice(eq + 1).trim();
  const options: Parameters<Cookies["set"]>[2] = { path: "/", httpOnly: false, secure: false, sameSite: undefined, encode: (v: string) => v };
  for (const attribute of attributes) {
    const i = attribute.indexOf("=");
    const key = (i < 0 ? attribute : attribute.slice(0, i)).trim().toLowerCase();
    const v = i < 0 ? "" : attribute.slice(i + 1).trim();
    if (key === "path") options.path = v || "/";
    else if (key === "domain") options.domain = v;
    else if (key === "expires") options.expires = new Date(v);
    else if (key === "max-age") options.maxAge = Number(v);
    else if (key === "httponly") options.httpOnly = true;
    else if (key === "secure") options.secure = true;
    else if (key === "samesite") options.sameSite = v.toLowerCase() as "lax" | "strict" | "none";
  }
  cookies.set(name, value, options);
}
