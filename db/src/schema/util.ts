import { timestamp } from "drizzle-orm/pg-core";

/** Shared lifecycle columns, spread into tables. */
export const timestamps = {
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
};
