import { redirect, type Actions } from "@sveltejs/kit";
import { action, api, ApiError } from "$lib/server/api";
import type { PageServerLoad } from "./$types";

export type Session = { id: string; ip: string | null; userAgent: string | null; lastSeenAt: string; current: boolean };
export type Key = { id: string; name: string; prefix: string; createdAt: string; lastUsedAt: string | null };

export const load: PageServerLoad = async (event) => {
  const [s, k] = await Promise.all([api<{ sessions: Session[] }>(event, "/account/sessions"), api<{ keys: Key[] }>(event, "/account/api-keys")]);
  return { sessions: s.sessions, keys: k.keys };
};

/** Shown again when the code was wrong, so the app that already has the key does not need a new one. */
const setupFrom = (f: Record<string, string>) => (f.secret && f.uri?.startsWith("otpauth://") ? { secret: f.secret, uri: f.uri } : undefined);

export const actions = {
  setup2fa: action(async (event) => ({ setup: await api<{ secret: string; uri: string }>(event, "/account/2fa/setup", { method: "POST" }) })),
  enable2fa: action(async (event, f) => {
    try {
      return await api<{ recoveryCodes: string[] }>(event, "/account/2fa/enable", { body: { code: (f.code ?? "").trim() } });
    } catch (e) {
      if (e instanceof ApiError) e.extra = { setup: setupFrom(f) };
      throw e;
    }
  }),
  disable2fa: action(async (event, f) => {
    await api(event, "/account/2fa/disable", { body: { password: f.password || undefined, code: (f.code ?? "").trim() } });
    return { twoFactorOff: true };
  }),
  revokeSession: action(async (event, f) => {
    await api(event, `/account/sessions/${encodeURIComponent(f.id ?? "")}`, { method: "DELETE" });
    return { revoked: "session" };
  }),
  createKey: action(async (event, f) => ({ newKey: (await api<{ key: string }>(event, "/account/api-keys", { body: { name: f.name ?? "" } })).key })),
  deleteAccount: action(async (event, f) => {
    if (f.confirm !== "yes") throw new ApiError(400, "VALIDATION_FAILED", "Tick the box to confirm that the account goes for good.");
    await api(event, "/account/delete", { body: { password: f.password || undefined } });
    event.cookies.delete("oc_session", { path: "/" });
    redirect(303, "/?account=deleted");
  }),
  revokeKey: action(async (event, f) => {
    await api(event, `/account/api-keys/${encodeURIComponent(f.id ?? "")}`, { method: "DELETE" });
    return { revoked: "key" };
  }),
} satisfies Actions;
