import { index, pgTable, text, timestamp, vector } from "drizzle-orm/pg-core";
import { agents } from "./agents";

/** Embedding width of the default embedding model (text-embedding-3-small). */
export const EMBEDDING_DIMENSIONS = 1536;

export const memories = pgTable(
  "memories",
  {
    id: text("id").primaryKey(),
    agentId: text("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    content: text("content").notNull(),
    source: text("source").notNull().default("user"),
    embedding: vector("embedding", { dimensions: EMBEDDING_DIMENSIONS }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("memories_agent_idx").on(t.agentId), index("memories_embedding_idx").using("hnsw", t.embedding.op("vector_cosine_ops"))],
);
