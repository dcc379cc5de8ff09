import { error, redirect } from "@sveltejs/kit";
import type { User } from "$lib/api";
import { api, ApiError, type ApiEvent } from "./api";

/**
 * Server loads of the dashboard and the operator console: a failed API call becomes the nearest error page
 * (`+error.svelte`), which shows the envelope's message and code and keeps its request id for support. Every
 * other failure (a redirect, a crash) passes through unchanged.
 */
export function pageError(e: unknown): never {
  if (e instanceof ApiError) error(e.status >= 400 && e.status <= 599 ? e.status : 502, { message: e.message, code: e.code, requestId: e.requestId });
  throw e;
}

/** Runs one load's work (calls that depend on each other), turning an API failure into the error page. */
export async function loaded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    pageError(e);
  }
}

/** A load's independent calls, made in parallel: `{ usage: api(…), offers: api(…) }` → their answers by name. */
export async function loadAll<T extends Record<string, Promise<unknown>>>(calls: T): Promise<{ [K in keyof T]: Awaited<T[K]> }> {
  const names = Object.keys(calls) as (keyof T)[];
  const settled = await Promise.allSettled(names.map((n) => calls[n]));
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) pageError(failed.reason);
  return Object.fromEntries(names.map((n, i) => [n, (settled[i] as PromiseFulfilledResult<unknown>).value])) as { [K in keyof T]: Awaited<T[K]> };
}

/** Who is signed in, decided on the server (also for pages rendered without JavaScript); nobody → sign in. */
export async function signedIn(event: ApiEvent): Promise<User> {
  try {
    return (await api<{ user: User }>(event, "/auth/me")).user;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) redirect(303, "/login");
    pageError(e);
  }
}
