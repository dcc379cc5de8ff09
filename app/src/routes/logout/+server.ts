import { redirect, type RequestHandler } from "@sveltejs/kit";
import { apiFetch } from "$lib/server/api";

/**
 * Sign out is a plain form post (it works without JavaScript, and the full page load that follows drops
 * everything the dashboard held in memory). The API revokes the session and clears its cookie.
 */
export const POST: RequestHandler = async (event) => {
  await apiFetch(event, "/auth/logout", { method: "POST" });
  redirect(303, "/login");
};
