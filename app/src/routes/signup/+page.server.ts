import { redirect, type Actions } from "@sveltejs/kit";
import { action, api } from "$lib/server/api";

export const actions = {
  default: action(async (event, f) => {
    await api(event, "/auth/signup", {
      body: { name: f.name?.trim() || undefined, email: f.email ?? "", password: f.password ?? "", referralCode: event.url.searchParams.get("ref") || undefined },
    });
    redirect(303, "/dashboard");
  }),
} satisfies Actions;
