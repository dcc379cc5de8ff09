import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

/**
 * How archive bytes move between the node and the store, apart from how archives are made and unpacked
 * (state-store.ts). On a worker node the transport is `EdgeTransport`: no storage keys on the node, only
 * presigned URLs the edge hands out per archive, per user placed here, and a restore that refuses an
 * archive whose sha256 or size differs from what the edge recorded at upload.
 */
export interface ArchiveTransport {
  /** Uploads a finished archive file; returns its key. */
  put(userId: string, file: string): Promise<{ key: string; bytes: number; sha256: string }>;
  /** The key of the archive to restore, if any. */
  latest(userId: string): Promise<string | undefined>;
  /** The archive's bytes, already checked (a stream over a verified local copy, removed when it ends). */
  open(key: string): Promise<Readable>;
  /** Deletes every archive of the user (a deleted account); returns how many this transport deleted. */
  deleteAll(userId: string): Promise<number>;
}

/** Direct S3 access with keys (development and tests that run no edge). */
export class S3Transport implements ArchiveTransport {
  constructor(private readonly opts: { client: S3Client; bucket: string }) {}

  async put(userId: string, file: string) {
    const { bytes, sha256 } = await digest(file);
    const key = `state/${userId}/${new Date().toISOString().replace(/[:.]/g, "-")}.tar.gz`;
    await new Upload({
      client: this.opts.client,
      params: { Bucket: this.opts.bucket, Key: key, Body: createReadStream(file), ContentType: "application/gzip" },
      partSize: 8 * 1024 * 1024,
      queueSize: 2,
    }).done();
    return { key, bytes, sha256 };
  }

  async latest(userId: string) {
    const res = await this.opts.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: `state/${userId}/` }));
    return (res.Contents ?? [])
      .map((o) => o.Key!)
      .sort()
      .at(-1);
  }

  async open(key: string) {
    const res = await this.opts.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: key }));
    return res.Body as Readable;
  }

  async deleteAll(userId: string) {
    let deleted = 0;
    for (;;) {
      const res = await this.opts.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: `state/${userId}/` }));
      const keys = (res.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length === 0) return deleted;
      await this.opts.client.send(new DeleteObjectsCommand({ Bucket: this.opts.bucket, Delete: { Objects: keys, Quiet: true } }));
      deleted += keys.length;
    }
  }
}

export async function digest(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(file), hash);
  return { bytes: (await stat(file)).size, sha256: hash.digest("hex") };
}

type Plan =
  | { key: string; mode: "single"; url: string }
  | { key: string; mode: "multipart"; createUrl: string }
  | { key: string; mode: "parts"; partSize: number; partUrls: string[]; completeUrl: string; abortUrl: string };

/** One HTTP exchange with a presigned URL; the body is a file range, a string, or nothing. */
function send(
  url: string,
  method: string,
  body?: { file: string; start: number; end: number } | string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const length = body === undefined ? 0 : typeof body === "string" ? Buffer.byteLength(body) : body.end - body.start + 1;
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(
      u,
      { method, headers: { "content-length": String(length) }, timeout: 120_000 },
      (res) => {
        let text = "";
        res
          .setEncoding("utf8")
          .on("data", (d) => (text += d))
          .on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on("error", reject).on("timeout", () => req.destroy(new Error(`${method} timed out`)));
    if (body === undefined) req.end();
    else if (typeof body === "string") req.end(body);
    else if (length === 0) req.end();
    else createReadStream(body.file, { start: body.start, end: body.end }).on("error", reject).pipe(req);
  });
}

const ok = <R extends { status: number; text: string }>(what: string, r: R): R => {
  if (r.status < 200 || r.status >= 300) throw new Error(`${what} failed: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  return r;
};

/**
 * Archives through the edge: `POST /api/nodes/<node>/archives/<user>/upload` gives presigned URLs for one
 * new archive (announcing its size and sha256, which the user's Durable Object records), `/complete`
 * makes it the one to restore, and `GET …/latest` gives a presigned GET with the recorded sha256 and size.
 */
export class EdgeTransport implements ArchiveTransport {
  private readonly expected = new Map<string, { url: string; sha256: string; bytes: number }>();

  constructor(private readonly opts: { edgeUrl: string; nodeId: string; secret: string; workDir?: string }) {}

  private async edge<T>(userId: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.opts.edgeUrl}/api/nodes/${encodeURIComponent(this.opts.nodeId)}/archives/${encodeURIComponent(userId)}/${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${this.opts.secret}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const data = (await res.json().catch(() => ({}))) as T & { error?: { code: string; message: string } };
    if (!res.ok)
      throw Object.assign(new Error(`the edge refused the archive request (${res.status} ${data.error?.code ?? ""}: ${data.error?.message ?? ""})`), {
        status: res.status,
      });
    return data;
  }

  async put(userId: string, file: string) {
    const { bytes, sha256 } = await digest(file);
    let plan = await this.edge<Plan>(userId, "upload", { bytes, sha256 });
    if (plan.mode === "single") {
      ok("archive upload", await send(plan.url, "PUT", { file, start: 0, end: bytes - 1 }));
    } else {
      if (plan.mode !== "multipart") throw new Error(`unexpected upload plan ${plan.mode}`);
      const created = ok("starting the multipart upload", await send(plan.createUrl, "POST"));
      const uploadId = created.text.match(/<UploadId>([^<]+)<\/UploadId>/)?.[1];
      if (!uploadId) throw new Error("the store returned no upload id");
      plan = await this.edge<Plan>(userId, "upload", { bytes, sha256, key: plan.key, uploadId });
      if (plan.mode !== "parts") throw new Error(`unexpected upload plan ${plan.mode}`);
      const parts = plan;
      try {
        const etags: string[] = [];
        for (let i = 0; i < parts.partUrls.length; i++) {
          const start = i * parts.partSize;
          const r = ok(`archive part ${i + 1}`, await send(parts.partUrls[i]!, "PUT", { file, start, end: Math.min(bytes, start + parts.partSize) - 1 }));
          const etag = r.headers.etag;
          if (typeof etag !== "string") throw new Error(`archive part ${i + 1}: no ETag`);
          etags.push(etag);
        }
        const xml = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e.replace(/[<>&]/g, "")}</ETag></Part>`).join("")}</CompleteMultipartUpload>`;
        const done = ok("completing the multipart upload", await send(parts.completeUrl, "POST", xml));
        if (done.text.includes("<Error>")) throw new Error(`completing the multipart upload failed: ${done.text.slice(0, 300)}`);
      } catch (e) {
        await send(parts.abortUrl, "DELETE").catch(() => undefined);
        throw e;
      }
    }
    await this.edge(userId, "complete", { key: plan.key });
    return { key: plan.key, bytes, sha256 };
  }

  async latest(userId: string) {
    try {
      const a = await this.edge<{ key: string; url: string; sha256: string; bytes: number }>(userId, "latest");
      this.expected.set(a.key, { url: a.url, sha256: a.sha256, bytes: a.bytes });
      return a.key;
    } catch (e) {
      if ((e as { status?: number }).status === 404) return undefined;
      throw e;
    }
  }

  /**
   * Downloads to a private temp file while hashing, and refuses (before anything is extracted, so the
   * agent's state dir is untouched) an archive larger than recorded or with another sha256 or size.
   */
  /**
   * A node holds no storage keys, so it cannot list or delete a user's archives: the edge, which holds
   * them, erases a deleted account's archives itself.
   */
  async deleteAll(_userId: string) {
    return 0;
  }

  async open(key: string) {
    const want = this.expected.get(key);
    if (!want) throw new Error(`refused to restore ${key}: the edge gave no record for it`);
    const file = join(this.opts.workDir ?? tmpdir(), `oc-restore-${process.pid}-${Date.now()}.tar.gz`);
    const hash = createHash("sha256");
    let bytes = 0;
    let out: ReturnType<typeof createWriteStream> | undefined;
    try {
      const res = await fetch(want.url, { signal: AbortSignal.timeout(30 * 60_000) });
      if (!res.ok || !res.body) throw new Error(`downloading ${key} failed: HTTP ${res.status}`);
      out = createWriteStream(file, { mode: 0o600, flags: "wx" });
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        if (bytes > want.bytes) throw new Error(`refused to restore ${key}: it is larger than the ${want.bytes} bytes recorded when it was stored`);
        hash.update(chunk);
        if (!out.write(chunk)) await new Promise<void>((r) => out!.once("drain", () => r()));
      }
      await new Promise<void>((resolve, reject) => out!.end((e?: Error | null) => (e ? reject(e) : resolve())));
      const sha256 = hash.digest("hex");
      if (bytes !== want.bytes || sha256 !== want.sha256)
        throw new Error(
          `refused to restore ${key}: it does not match the archive recorded when it was stored (sha256 ${sha256.slice(0, 12)}…, ${bytes} bytes; expected ${want.sha256.slice(0, 12)}…, ${want.bytes} bytes)`,
        );
    } catch (e) {
      out?.destroy();
      await rm(file, { force: true });
      console.warn(`[node-agent] ${(e as Error).message}`);
      throw e;
    }
    const stream = createReadStream(file);
    stream.on("close", () => void rm(file, { force: true }));
    return stream;
  }
}
