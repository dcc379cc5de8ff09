import type { Actions } from "@sveltejs/kit";
import { action, api, ApiError } from "$lib/server/api";
import { loaded } from "$lib/server/load";
import type { Catalog, CatalogModel, CatalogVersion } from "$lib/types";
import type { PageServerLoad } from "./$types";

export const load = (async (event) => {
  const { user } = await event.parent();
  if (user.role !== "admin") return { operator: false as const };
  return loaded(async () => {
    const r = await api<{ current: Catalog; versions: CatalogVersion[] }>(event, "/admin/catalog");
    return { operator: true as const, catalog: r.current, versions: r.versions };
  });
}) satisfies PageServerLoad;

const PRICES = ["inputPer1M", "cachedPer1M", "cacheWritePer1M", "outputPer1M"] as const;
/** Prices are typed in USD per 1M tokens and stored as integer micro-USD. */
const toMicros = (usd: FormDataEntryValue | undefined) => Math.round(Number(usd ?? 0) * 1_000_000);

/** The table's rows as the form posts them: one value per row for each column, in row order. */
function modelsFrom(data: FormData): CatalogModel[] {
  const col = (name: string) => data.getAll(name).map(String);
  const ids = col("id");
  const auto = new Set(col("auto"));
  return ids.map((id, i) => {
    const at = (name: string) => col(name)[i] ?? "";
    const prices = Object.fromEntries(PRICES.map((p) => [p, toMicros(at(p))])) as Record<(typeof PRICES)[number], number>;
    return {
      id: id.trim(),
      api: at("api") === "anthropic" ? "anthropic" : "openai",
      maxTier: at("maxTier"),
      auto: auto.has(String(i)),
      ...prices,
      contextWindow: Number(at("contextWindow")),
      maxOutput: Number(at("maxOutput")),
      priceSource: at("priceSource"),
      priceDate: at("priceDate"),
    };
  });
}

export const actions = {
  publish: action(async (event, f, data) => {
    const markupBps = Object.fromEntries([...data.keys()].filter((k) => k.startsWith("markup_")).map((k) => [k.slice("markup_".length), Number(data.get(k))]));
    const models = modelsFrom(data);
    if (models.length === 0) throw new ApiError(400, "VALIDATION_FAILED", "The catalog needs at least one model.");
    const r = await api<Catalog>(event, "/admin/catalog", { method: "PUT", body: { note: f.note ?? "", models, markupBps } });
    return { saved: `Published version ${r.version}. Edges use it within seconds.` };
  }),
} satisfies Actions;
