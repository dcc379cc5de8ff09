import type { Actions } from "@sveltejs/kit";
import { action, api } from "$lib/server/api";
import { loadAll } from "$lib/server/load";
import { TIERS } from "@oc/contracts/tiers";
import type { Offers, ProtectionSettings } from "$lib/types";
import type { PageServerLoad } from "./$types";

export const load = (async (event) => {
  const { settings, offers } = await loadAll({ settings: api<ProtectionSettings>(event, "/agent/protection"), offers: api<Offers>(event, "/billing/plans") });
  return { settings, packs: offers.packs.map((p) => ({ id: p.id, name: p.name })) };
}) satisfies PageServerLoad;

/** Money is typed in dollars and stored in integer micro-USD; an empty field is "no cap". */
const micros = (usd: string | undefined) => (usd === undefined || usd.trim() === "" || Number.isNaN(Number(usd)) ? null : Math.round(Number(usd) * 1e6));
const int = (v: string | undefined) => Math.trunc(Number(v ?? ""));

export const actions = {
  save: action(async (event, f) => {
    await api(event, "/agent/protection", {
      method: "PUT",
      body: {
        perMessageBudget: Object.fromEntries(TIERS.map((t) => [t, micros(f[`budget_${t}`]) ?? 0])),
        loop: { maxRepeats: int(f.maxRepeats), windowSec: int(f.windowSec), maxCallsPerMessage: int(f.maxCallsPerMessage) },
        quietHours: { enabled: f.quietHours === "on", start: f.quietStart ?? "", end: f.quietEnd ?? "" },
        timezone: f.timezone ?? "",
        dailyCap: micros(f.dailyCap),
        monthlyCap: micros(f.monthlyCap),
        backgroundMaxCalls: int(f.backgroundMaxCalls),
      },
    });
    await api(event, "/billing/auto-top-up", {
      method: "PUT",
      body: { enabled: f.autoTopUp === "on", thresholdMicros: micros(f.topUpAt) ?? 100_000, pack: f.pack || "pack_20" },
    });
    return { saved: "Saved." };
  }),
} satisfies Actions;
