import { api, ApiError } from "$lib/server/api";
import type { PageServerLoad } from "./$types";

/**
 * Opening the mail's link confirms the address, on the server, so it works without JavaScript too. The token
 * alone proves it; no session cookie goes along (this runs on a GET, often arriving from a mail site).
 */
export const load: PageServerLoad = async (event) => {
  const token = event.url.searchParams.get("token");
  if (!token) return { confirmed: false as const, message: "This link is incomplete. Open the link from the mail again." };
  try {
    await api(event, "/auth/verify-email", { body: { token }, anonymous: true });
    return { confirmed: true as const, message: "" };
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    return { confirmed: false as const, message: e.message };
  }
};
