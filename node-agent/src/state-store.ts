import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { createReadStream } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tar from "tar";

/**
 * Sleeping agents' state lives in S3 (any S3-compatible store). An archive is a gzip tarball of the state
 * dir, taken only after the container stopped (never live SQLite files), without the regenerable cache and
 * tmp folders. Keys are `state/<userId>/<timestamp>.tar.gz`; the newest is the one to restore.
 */
export const EXCLUDED = ["cache", "tmp", "logs"];
/**
 * The channel plugins the image installs into every agent's state (node-agent/image/build.sh): ~50 MB that
 * the image's oc-start puts back when missing, so they are never archived.
 */
export const SEEDED = /^\.\/npm\/projects\/openclaw-(discord|slack|whatsapp)-[0-9a-f]+(\/|$)/;

export interface StateStoreOptions {
  bucket: string;
  client: S3Client;
}

export function s3FromEnv(env: NodeJS.ProcessEnv = process.env): StateStoreOptions {
  return {
    bucket: env.S3_BUCKET ?? "openclaw-state",
    client: new S3Client({
      region: env.S3_REGION ?? "us-east-1",
      endpoint: env.S3_ENDPOINT,
      forcePathStyle: !!env.S3_ENDPOINT,
      credentials: env.S3_ACCESS_KEY_ID ? { accessKeyId: env.S3_ACCESS_KEY_ID, secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? "" } : undefined,
    }),
  };
}

export class StateStore {
  constructor(private readonly opts: StateStoreOptions) {}

  /** Archives `dir` and uploads it (multipart for large archives); returns the key and size. */
  async archive(userId: string, dir: string): Promise<{ key: string; bytes: number }> {
    const file = join(tmpdir(), `oc-state-${userId}-${Date.now()}.tar.gz`);
    try {
      await tar.create(
        { gzip: true, file, cwd: dir, portable: false, filter: (path) => !SEEDED.test(path) && !EXCLUDED.some((x) => path === `./${x}` || path.startsWith(`./${x}/`)) },
        ["."],
      );
      const bytes = (await stat(file)).size;
      const key = `state/${userId}/${new Date().toISOString().replace(/[:.]/g, "-")}.tar.gz`;
      await new Upload({
        client: this.opts.client,
        params: { Bucket: this.opts.bucket, Key: key, Body: createReadStream(file), ContentType: "application/gzip" },
        partSize: 8 * 1024 * 1024,
        queueSize: 2,
      }).done();
      return { key, bytes };
    } finally {
      await rm(file, { force: true });
    }
  }

  async latest(userId: string): Promise<string | undefined> {
    const res = await this.opts.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: `state/${userId}/` }));
    return (res.Contents ?? []).map((o) => o.Key!).sort().at(-1);
  }

  /** Deletes every archive of the user (the account was deleted); returns how many. */
  async deleteAll(userId: string): Promise<number> {
    let deleted = 0;
    for (;;) {
      const res = await this.opts.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: `state/${userId}/` }));
      const keys = (res.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length === 0) return deleted;
      await this.opts.client.send(new DeleteObjectsCommand({ Bucket: this.opts.bucket, Delete: { Objects: keys, Quiet: true } }));
      deleted += keys.length;
    }
  }

  /** Replaces `dir` with the archive's contents. */
  async restore(key: string, dir: string): Promise<void> {
    const res = await this.opts.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: key }));
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await pipeline(res.Body as Readable, tar.extract({ cwd: dir, preservePaths: false }));
  }
}
