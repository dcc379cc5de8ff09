import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import * as tar from "tar";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { archiveKey, presign, uploadPlan, type S3Target } from "@oc/contracts/archive-urls";
import { EdgeTransport } from "../src/archive-transport";
import { StateStore } from "../src/state-store";
import { localS3 } from "./local-runtime";

/**
 * The node's side of archives without storage keys: the node agent holds only its node secret, asks an
 * edge for presigned URLs, and moves bytes with them. The edge here is a stand-in on loopback that signs
 * with the edge's real signing code (contracts/src/archive-urls.ts) for s3rver, and records each
 * archive's sha256 and size the way the user's Durable Object does. s3rver does not verify SigV4
 * signatures, so the signing itself is checked against the official SDK signer (same signature).
 */
const USER = `usr_${"a".repeat(24)}`;
let closeS3: (() => Promise<void>) | undefined;
let edge: Server;
let edgeUrl = "";
let target: S3Target;
let direct: S3Client;
const records = new Map<string, { key: string; sha256: string; bytes: number }>();
const pending = new Map<string, { key: string; sha256: string; bytes: number }>();
/** Small thresholds so the multipart path runs with a few MiB (S3's minimum part is 5 MiB). */
const opts = { threshold: 6 * 1024 * 1024, partSize: 5 * 1024 * 1024 };

beforeAll(async () => {
  let endpoint: string;
  ({ endpoint, client: direct, close: closeS3 } = await localS3());
  target = { endpoint, region: "us-east-1", bucket: "openclaw-state", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
  edge = createServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    const m = req.url!.match(/^\/api\/nodes\/node_1\/archives\/(usr_[a-z2-7]{24})\/(upload|complete|latest)$/);
    const reply = (status: number, data: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(data));
    if (req.headers.authorization !== "Bearer node-secret" || !m) return reply(401, { error: { code: "UNAUTHORIZED", message: "no" } });
    const userId = m[1]!;
    const input = body ? JSON.parse(body) : {};
    if (m[2] === "upload") {
      if (input.key) return reply(200, await uploadPlan(target, input.key, input.bytes, input.uploadId, opts));
      const key = archiveKey(userId);
      pending.set(userId, { key, sha256: input.sha256, bytes: input.bytes });
      return reply(200, await uploadPlan(target, key, input.bytes, undefined, opts));
    }
    if (m[2] === "complete") {
      if (pending.get(userId)?.key !== input.key) return reply(409, { error: { code: "CONFLICT", message: "not begun" } });
      records.set(userId, pending.get(userId)!);
      return reply(200, records.get(userId));
    }
    const r = records.get(userId);
    if (!r) return reply(404, { error: { code: "NOT_FOUND", message: "none" } });
    return reply(200, { ...r, url: await presign(target, "GET", r.key) });
  });
  await new Promise<void>((r) => edge.listen(0, "127.0.0.1", () => r()));
  edgeUrl = `http://127.0.0.1:${(edge.address() as { port: number }).port}`;
});

afterAll(async () => {
  edge?.close();
  await closeS3?.();
});

const store = () => new StateStore({ transport: new EdgeTransport({ edgeUrl, nodeId: "node_1", secret: "node-secret" }) });

function stateDir(files: Record<string, string | Buffer>) {
  const dir = mkdtempSync(join(tmpdir(), "oc-state-"));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  return dir;
}

describe("archives through presigned URLs (no storage keys on the node)", () => {
  it("archives and restores through one presigned PUT and GET, with the recorded sha256 and size", async () => {
    const src = stateDir({ "openclaw.json": '{"a":1}', "workspace/MEMORY.md": "remember this" });
    const { key, bytes } = await store().archive(USER, src);
    expect(key).toMatch(new RegExp(`^state/${USER}/`));
    expect(records.get(USER)).toMatchObject({ key, bytes, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const dest = stateDir({ "old.txt": "previous state" });
    const s = store();
    expect(await s.latest(USER)).toBe(key);
    await s.restore(key, dest);
    expect(readFileSync(join(dest, "workspace/MEMORY.md"), "utf8")).toBe("remember this");
    expect(existsSync(join(dest, "old.txt"))).toBe(false);
  });

  it("uploads a large archive in parts", async () => {
    const src = stateDir({ "blob.bin": randomBytes(12 * 1024 * 1024) }); // incompressible: > 2 parts
    const { key, bytes } = await store().archive(USER, src);
    expect(bytes).toBeGreaterThan(opts.threshold);
    const dest = mkdtempSync(join(tmpdir(), "oc-state-"));
    const s = store();
    expect(await s.latest(USER)).toBe(key);
    await s.restore(key, dest);
    expect(readFileSync(join(dest, "blob.bin")).equals(readFileSync(join(src, "blob.bin")))).toBe(true);
  });

  it("refuses an archive that was replaced or altered in the bucket, and leaves the agent's state untouched", async () => {
    const src = stateDir({ "workspace/MEMORY.md": "the real memories" });
    const { key } = await store().archive(USER, src);
    const get = async () => Buffer.from(await (await direct.send(new GetObjectCommand({ Bucket: "openclaw-state", Key: key }))).Body!.transformToByteArray());
    const put = (body: Buffer) => direct.send(new PutObjectCommand({ Bucket: "openclaw-state", Key: key, Body: body }));
    const genuine = await get();
    const restoreInto = async (dest: string) => {
      const s = store();
      await s.latest(USER);
      return s.restore(key, dest);
    };
    // Someone with bucket access (any node, in the old design) plants a crafted archive under the key …
    const crafted = stateDir({ "workspace/MEMORY.md": "planted instructions" });
    const planted = join(tmpdir(), `oc-planted-${Date.now()}.tar.gz`);
    await tar.create({ gzip: true, file: planted, cwd: crafted }, ["."]);
    await put(readFileSync(planted));
    const dest = stateDir({ "workspace/MEMORY.md": "current state" });
    await expect(restoreInto(dest)).rejects.toThrow(/refused to restore .*(does not match the archive recorded|larger than the \d+ bytes recorded)/);
    // … or flips one byte (same size): the sha256 catches it.
    const flipped = Buffer.from(genuine);
    flipped[flipped.length - 10] = flipped[flipped.length - 10]! ^ 0xff;
    await put(flipped);
    await expect(restoreInto(dest)).rejects.toThrow(/refused to restore .*does not match the archive recorded/);
    expect(readFileSync(join(dest, "workspace/MEMORY.md"), "utf8")).toBe("current state");
    // Positive control: the genuine bytes put back restore through the same path.
    await put(genuine);
    await restoreInto(dest);
    expect(readFileSync(join(dest, "workspace/MEMORY.md"), "utf8")).toBe("the real memories");
  });

  it("refuses an archive larger than recorded before reading it all", async () => {
    const src = stateDir({ "a.txt": "x" });
    const { key } = await store().archive(USER, src);
    await direct.send(new PutObjectCommand({ Bucket: "openclaw-state", Key: key, Body: randomBytes(2 * 1024 * 1024) }));
    const s = store();
    await s.latest(USER);
    await expect(s.restore(key, stateDir({}))).rejects.toThrow(/larger than the \d+ bytes recorded/);
  });

  it("signs exactly as the official SDK signer does (same signature for the same request and time)", async () => {
    const { SignatureV4 } = await import("@smithy/signature-v4");
    const { Sha256 } = await import("@aws-crypto/sha256-js");
    const at = new Date("2026-12-01T08:00:00.000Z");
    const key = `state/${USER}/2026-12-01T08-00-00-000Z.tar.gz`;
    const signer = new SignatureV4({
      service: "s3",
      region: "us-east-1",
      sha256: Sha256,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
      uriEscapePath: false,
    });
    const u = new URL(target.endpoint);
    for (const [method, query] of [
      ["GET", {}],
      ["PUT", { partNumber: "3", uploadId: "a b/c+d" }],
      ["POST", { uploads: "" }],
    ] as const) {
      const unsigned = new Set(["x-amz-content-sha256"]);
      const official = await signer.presign(
        {
          method,
          protocol: u.protocol,
          hostname: u.hostname,
          port: Number(u.port),
          path: `/openclaw-state/${key}`,
          query: { ...query },
          headers: { host: u.host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
        },
        { expiresIn: 900, signingDate: at, unsignableHeaders: unsigned, unhoistableHeaders: unsigned },
      );
      const ours = new URL(await presign(target, method, key, { ...query }, 900, at));
      expect(ours.searchParams.get("X-Amz-Signature"), method).toBe(official.query!["X-Amz-Signature"]);
      // The signature covers the key and the expiry: another key or lifetime signs differently.
      expect(new URL(await presign(target, method, key.replace("08-00", "08-01"), { ...query }, 900, at)).searchParams.get("X-Amz-Signature")).not.toBe(
        official.query!["X-Amz-Signature"],
      );
      expect(new URL(await presign(target, method, key, { ...query }, 604800, at)).searchParams.get("X-Amz-Signature")).not.toBe(
        official.query!["X-Amz-Signature"],
      );
    }
  });
});
