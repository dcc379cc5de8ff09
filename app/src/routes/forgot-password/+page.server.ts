import type { Actions } from "@sveltejs/kit";
import { action, api } from "$lib/server/api";

export const actions = {
  default: action(async (event, f) => {
    await api(event, "/auth/password/forgot", { body: { email: f.email ?? "" } });
    return { sent: true };
  }),
} satisfies Actions;
