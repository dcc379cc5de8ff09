import { redirect, type Actions } from "@sveltejs/kit";
import { action, api, ApiError } from "$lib/server/api";
import { signIn } from "$lib/server/sign-in";

export const actions = {
  default: action(async (event, f) => {
    const email = f.email ?? "";
    const password = f.password ?? "";
    const r = await api<{ status?: string }>(event, "/auth/signup", {
      body: { name: f.name?.trim() || undefined, email, password, referralCode: event.url.searchParams.get("ref") || undefined },
    });
    // An API that answers "check your inbox" (the same for a taken address, so sign-up reveals no accounts)
    // signs no one in: the password just chosen does, as the sign-in form would.
    if (r.status !== "check_inbox") redirect(303, "/dashboard");
    try {
      return await signIn(event, email, password);
    } catch (e) {
      if (e instanceof ApiError && e.code === "INVALID_CREDENTIALS")
        throw new ApiError(e.status, e.code, "Check your inbox: we sent a mail to this address. If it already has an account, sign in instead.");
      throw e;
    }
  }),
} satisfies Actions;
