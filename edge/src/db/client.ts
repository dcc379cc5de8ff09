import { Pool, neonConfig } from "@neondatabase/serverless";
import { drizzle, type NeonDatabase } from "drizzle-orm/neon-serverless";
import * as schema from "./schema";

export type Db = NeonDatabase<typeof schema>;

/**
 * One code path everywhere: @neondatabase/serverless over WebSockets. In production it talks to Neon; in dev
 * and tests NEON_LOCAL_WSPROXY points it at scripts/pg-ws-bridge.mjs in front of a local PostgreSQL.
 * A Pool lives for one request (Workers cannot share sockets across requests); call close() in waitUntil.
 */
export function openDb(databaseUrl: string, localWsProxy?: string): { db: Db; close: () => Promise<void> } {
  if (localWsProxy) {
    neonConfig.wsProxy = (host, port) => `${localWsProxy}/v2?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.pipelineConnect = false;
  }
  const pool = new Pool({ connectionString: databaseUrl });
  return { db: drizzle({ client: pool, schema }), close: () => pool.end() };
}
