import { desc, sql } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { openDb, type Db } from "@oc/db/client";
import { modelCatalogs } from "@oc/db/schema";
import { CatalogView, SEED_CATALOG, SEED_VIEW, catalogSchema, type Catalog } from "./catalog";

/**
 * The live catalog, cached in the isolate. Only an isolate's first call waits for it (one small query,
 * bounded by COLD_WAIT_MS, so prices are never taken from a stale seed when the operator has published
 * since); after that the hot path reads the cached view, and at most every REFRESH_MS one request checks,
 * off its path (waitUntil), whether a newer version exists; only then is the document read and validated.
 * A usage record keeps the version it was billed at.
 */
export const REFRESH_MS = 15_000;
const COLD_WAIT_MS = 1_500;

let current: CatalogView = SEED_VIEW;
let checkedAt = 0;
let inflight: Promise<void> | undefined;

type DbEnv = { DATABASE_URL: string; NEON_LOCAL_WSPROXY?: string };

function check(env: DbEnv): Promise<void> {
  inflight ??= refreshCatalog(env)
    .then(
      () => undefined,
      (e) => console.warn(`[catalog] refresh failed, keeping version ${current.version}: ${(e as Error).message}`),
    )
    .finally(() => (inflight = undefined));
  return inflight;
}

export async function liveCatalog(env: DbEnv, defer: (p: Promise<unknown>) => void, now = Date.now()): Promise<CatalogView> {
  if (checkedAt === 0) {
    checkedAt = now;
    const p = check(env);
    defer(p);
    await Promise.race([p, new Promise((r) => setTimeout(r, COLD_WAIT_MS))]);
  } else if (now - checkedAt > REFRESH_MS) {
    checkedAt = now;
    defer(check(env));
  }
  return current;
}

/** Loads the newest published version when it differs from the cached one. */
export async function refreshCatalog(env: { DATABASE_URL: string; NEON_LOCAL_WSPROXY?: string }): Promise<CatalogView> {
  const { db, close } = openDb(env.DATABASE_URL, env.NEON_LOCAL_WSPROXY);
  try {
    const [head] = await db.select({ version: modelCatalogs.version }).from(modelCatalogs).orderBy(desc(modelCatalogs.version)).limit(1);
    if (head && head.version !== current.version) {
      const [row] = await db
        .select({ doc: modelCatalogs.doc })
        .from(modelCatalogs)
        .where(sql`${modelCatalogs.version} = ${head.version}`);
      const parsed = catalogSchema.safeParse(row?.doc);
      // A stored version that no longer validates (schema moved on) is skipped, never served half-read.
      if (parsed.success) current = new CatalogView(parsed.data);
    }
    return current;
  } finally {
    await close();
  }
}

/** The live catalog as the admin console shows it, with every version's date and author. */
export async function catalogVersions(
  db: Db,
): Promise<{ current: Catalog; versions: { version: number; createdAt: Date; createdBy: string | null; note: string }[] }> {
  const rows = await db.select().from(modelCatalogs).orderBy(desc(modelCatalogs.version)).limit(50);
  const newest = rows[0] ? catalogSchema.safeParse(rows[0].doc) : undefined;
  return {
    current: newest?.success ? newest.data : SEED_CATALOG,
    versions: rows.map((r) => ({ version: r.version, createdAt: r.createdAt, createdBy: r.createdBy, note: String((r.doc as { note?: unknown }).note ?? "") })),
  };
}

/**
 * Publishes an edited catalog as the next version (validated; the version and date are set here). Two
 * operators saving at once cannot both get the same version: the primary key refuses the second insert.
 */
export async function publishCatalog(db: Db, input: unknown, by: string): Promise<Catalog> {
  const [head] = await db.select({ version: modelCatalogs.version }).from(modelCatalogs).orderBy(desc(modelCatalogs.version)).limit(1);
  const version = Math.max(head?.version ?? 0, SEED_CATALOG.version) + 1;
  const parsed = catalogSchema.safeParse({ ...(input as object), version, publishedAt: new Date().toISOString() });
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new AppError("VALIDATION_FAILED", `Catalog not saved: ${first.path.join(".") || "catalog"}: ${first.message}`, {
      details: { issues: parsed.error.issues.slice(0, 20).map((i) => ({ path: i.path.join("."), message: i.message })) },
    });
  }
  const inserted = await db
    .insert(modelCatalogs)
    .values({ version, doc: parsed.data, createdBy: by })
    .onConflictDoNothing()
    .returning({ version: modelCatalogs.version });
  if (inserted.length === 0) throw new AppError("CONFLICT", "Someone else saved the catalog at the same moment. Reload it and save again.");
  current = new CatalogView(parsed.data);
  checkedAt = Date.now();
  return parsed.data;
}

/** For tests: forget the cached catalog (the next call starts from the seed and checks at once). */
export function resetCatalogCache() {
  current = SEED_VIEW;
  checkedAt = 0;
}
