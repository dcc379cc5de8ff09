import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { nodeRegistrationTokens, nodes } from "@oc/db/schema";
import { sha256Hex } from "@oc/contracts/crypto";
import { newId } from "@oc/contracts/ids";
import { call, withDb } from "./helpers";

/**
 * Archive URLs at the edge: a node authenticates with its own secret and gets presigned URLs only for
 * agents placed on it; the user's Durable Object records each archive's sha256 and size, which a restore
 * is given to check. Nothing here talks to S3 (the node side runs against s3rver in node-agent/test).
 */
async function registerNode() {
  const id = newId("node");
  const secret = crypto.randomUUID();
  await withDb(async (db) => db.insert(nodes).values({ id, name: id, status: "active", secretHash: await sha256Hex(secret) }));
  return { id, secret };
}

const userId = () => `usr_${Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => "abcdefghijklmnopqrstuvwxyz234567"[b % 32]).join("")}`;
const sha = "ab".repeat(32);

async function placedUser(nodeId: string) {
  const u = userId();
  const agent = env.USER_AGENT.getByName(u);
  await agent.init(u);
  await agent.setPlacement(nodeId);
  return u;
}

const api = (node: { id: string; secret: string }, u: string, what: "upload" | "complete" | "latest", body?: unknown) =>
  call(`/api/nodes/${node.id}/archives/${u}/${what}`, { headers: { authorization: `Bearer ${node.secret}` }, body });

describe("archive URLs for nodes (no storage keys on nodes)", () => {
  // The first request builds the Worker's app and opens the database: not part of any test's time.
  beforeAll(() => call("/api/health").then(() => undefined), 60_000);

  it("gives the node an agent is placed on a short-lived URL for one key, records sha256 and size, and a GET with them", async () => {
    const node = await registerNode();
    const u = await placedUser(node.id);
    const up = await api(node, u, "upload", { bytes: 1234, sha256: sha });
    expect(up.status).toBe(200);
    expect(up.body.mode).toBe("single");
    const url = new URL(up.body.url);
    expect(url.pathname).toBe(`/openclaw-state/${up.body.key}`);
    expect(up.body.key).toMatch(new RegExp(`^state/${u}/[0-9TZ-]+\\.tar\\.gz$`));
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
    expect(url.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    expect(url.searchParams.get("X-Amz-Credential")).toMatch(/^test-node-key\//);
    // Not the restore yet: nothing was completed.
    expect((await api(node, u, "latest")).body.error.code).toBe("NOT_FOUND");
    const done = await api(node, u, "complete", { key: up.body.key });
    expect(done.body).toEqual({ key: up.body.key, sha256: sha, bytes: 1234 });
    const latest = await api(node, u, "latest");
    expect(latest.body).toMatchObject({ key: up.body.key, sha256: sha, bytes: 1234 });
    expect(new URL(latest.body.url).pathname).toBe(`/openclaw-state/${up.body.key}`);
  });

  it("refuses another node (even with a valid secret), a wrong secret, and a key that was not begun", async () => {
    const home = await registerNode();
    const other = await registerNode();
    const u = await placedUser(home.id);
    const up = await api(home, u, "upload", { bytes: 10, sha256: sha });
    expect(up.status).toBe(200);
    await api(home, u, "complete", { key: up.body.key });
    for (const what of ["upload", "latest"] as const) {
      const r = await api(other, u, what, what === "upload" ? { bytes: 10, sha256: sha } : undefined);
      expect(r.status).toBe(403);
      expect(r.body.error).toMatchObject({ code: "FORBIDDEN", requestId: expect.any(String) });
    }
    expect((await api(other, u, "complete", { key: up.body.key })).status).toBe(403);
    expect((await api({ id: home.id, secret: "wrong" }, u, "latest")).status).toBe(401);
    // A key of this user that the edge never issued for an upload is not recorded.
    const forged = await api(home, u, "complete", { key: `state/${u}/2020-01-01T00-00-00-000Z.tar.gz` });
    expect(forged.body.error.code).toBe("CONFLICT");
    const otherUsersKey = await api(home, u, "complete", { key: `state/${userId()}/2020-01-01T00-00-00-000Z.tar.gz` });
    expect(otherUsersKey.body.error.code).toBe("BAD_REQUEST");
    // Positive control: the home node still gets its archive, unchanged.
    expect((await api(home, u, "latest")).body).toMatchObject({ key: up.body.key, sha256: sha, bytes: 10 });
  });

  it("plans a multipart upload for a large archive, and part URLs only for the upload it began", async () => {
    const node = await registerNode();
    const u = await placedUser(node.id);
    const bytes = 100 * 1024 * 1024;
    const start = await api(node, u, "upload", { bytes, sha256: sha });
    expect(start.body.mode).toBe("multipart");
    expect(new URL(start.body.createUrl).searchParams.has("uploads")).toBe(true);
    const parts = await api(node, u, "upload", { bytes, sha256: sha, key: start.body.key, uploadId: "upload-1" });
    expect(parts.body).toMatchObject({ mode: "parts", partSize: 16 * 1024 * 1024 });
    expect(parts.body.partUrls).toHaveLength(7);
    expect(new URL(parts.body.partUrls[6]).searchParams.get("partNumber")).toBe("7");
    expect(new URL(parts.body.completeUrl).searchParams.get("uploadId")).toBe("upload-1");
    // Another size or hash than announced, or another key: refused.
    expect((await api(node, u, "upload", { bytes: bytes * 2, sha256: sha, key: start.body.key, uploadId: "upload-1" })).body.error.code).toBe("CONFLICT");
    expect((await api(node, u, "upload", { bytes, sha256: sha, key: `state/${u}/2020-01-01T00-00-00-000Z.tar.gz`, uploadId: "u" })).body.error.code).toBe(
      "CONFLICT",
    );
  });

  it("registration hands out no storage keys", async () => {
    const token = `ocn_${crypto.randomUUID()}`;
    await withDb(async (db) =>
      db
        .insert(nodeRegistrationTokens)
        .values({ id: newId("nrt"), tokenHash: await sha256Hex(token), createdBy: null, purpose: "operator", expiresAt: new Date(Date.now() + 60_000) }),
    );
    const res = await call("/api/nodes/register", { body: { token, name: "vps-1" } });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(["nodeId", "secret"]);
  });
});
