import { sql } from "drizzle-orm";
import type { Db } from "@oc/db/client";

/** One round trip to the database: the health check's proof that it answers. */
export async function pingDatabase(db: Db): Promise<void> {
  await db.execute(sql`select 1`);
}
