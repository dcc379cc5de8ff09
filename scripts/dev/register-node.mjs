// DEV ONLY: registers this machine as a worker node (once) and prints its id and secret as shell exports,
// so `npm run dev` can start a node agent that dials the local edge.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import pg from "pg";

const file = `${process.env.OC_RUN ?? "/tmp/openclaw-run"}/dev-node.json`;
const node = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : { id: "node_dev_local", secret: randomBytes(32).toString("base64url") };
writeFileSync(file, JSON.stringify(node));
const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
await client.query(
  `INSERT INTO nodes (id, name, provider, status, secret_hash) VALUES ($1, 'this machine (dev)', 'manual', 'active', $2)
   ON CONFLICT (id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, status = 'active'`,
  [node.id, createHash("sha256").update(node.secret).digest("hex")],
);
await client.end();
console.log(`export NODE_ID=${node.id} NODE_SECRET=${node.secret}`);
