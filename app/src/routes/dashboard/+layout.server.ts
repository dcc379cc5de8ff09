import { redirect } from "@sveltejs/kit";
import type { User } from "$lib/api";
import { api, ApiError } from "$lib/server/api";
import type { LayoutServerLoad } from "./$types";

/** Who is signed in, decided on the server (also for pages rendered without JavaScript); nobody → sign in. */
export const load: LayoutServerLoad = async (event) => {
  try {
    return { user: (await api<{ user: User }>(event, "/auth/me")).user };
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) redirect(303, "/login");
    throw e;
  }
};
