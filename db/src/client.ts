import { Pool, neonConfig } from "@neondatabase/serverless";
import { drizzle, type NeonDatabase } from "drizzle-orm/neon-serverless";
import * as schema from "./schema";

export type Db = NeonDatabase<typeof schema>;

/**
 * One code path everywhere: @neondatabase/serverless over WebSockets. In production it talks to Neon; in dev
 * and tests NEON_LOCAL_WSPROXY points it at test-harness/stand-ins/pg-ws-bridge.ts in front of a local PostgreSQL.
 * A Pool lives for one request (Workers cannot share sockets across requests); call close() in waitUntil.
 */
export function openDb(databaseUrl: string, localWsProxy?: string): { db: Db; pool: Pool; close: () => Promise<void> } {
  if (localWsProxy) {
    neonConfig.wsProxy = (host, port) => `${localWsProxy}/v2?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.pipelineConnect = false;
  }
  const pool = new Pool({ connectionString: databaseUrl });
  // An idle client whose socket drops (e.g. when workerd tears the request down) is reported on the pool;
  // without a listener that report would be an uncaught exception. The next query opens a new connection.
  // workerd reports the socket teardown after end() as "Network connection lost", which is expected then.
  let closing = false;
  pool.on("error", (err: Error) => closing || console.warn(`[db] idle connection dropped: ${err.message}`));
  return {
    db: drizzle({ client: pool, schema }),
    // For the rare statement drizzle's builder cannot say as cheaply (the usage outbox's one-parameter batch).
    pool,
    close: () => {
      closing = true;
      return pool.end();
    },
  };
}
