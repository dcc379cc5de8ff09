import type { Actions } from "@sveltejs/kit";
import { action } from "$lib/server/api";
import { signIn } from "$lib/server/sign-in";

export const actions = {
  default: action((event, f) => signIn(event, f.email ?? "", f.password ?? "")),
} satisfies Actions;
