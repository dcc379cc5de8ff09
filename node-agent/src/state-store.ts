import { S3Client } from "@aws-sdk/client-s3";
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import * as tar from "tar";
import { S3Transport, type ArchiveTransport } from "./archive-transport";

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
  private readonly transport: ArchiveTransport;

  /** With S3 options: direct access (dev/tests); on a worker node, the edge's presigned URLs (archive-transport.ts). */
  constructor(opts: StateStoreOptions | { transport: ArchiveTransport }) {
    this.transport = "transport" in opts ? opts.transport : new S3Transport(opts);
  }

  /** Archives `dir` and uploads it (multipart for large archives); returns the key and size. */
  async archive(userId: string, dir: string): Promise<{ key: string; bytes: number }> {
    const file = join(tmpdir(), `oc-state-${userId}-${Date.now()}.tar.gz`);
    try {
      await tar.create(
        { gzip: true, file, cwd: dir, portable: false, filter: (path) => !SEEDED.test(path) && !EXCLUDED.some((x) => path === `./${x}` || path.startsWith(`./${x}/`)) },
        ["."],
      );
      const { key, bytes } = await this.transport.put(userId, file);
      return { key, bytes };
    } finally {
      await rm(file, { force: true });
    }
  }

  latest(userId: string): Promise<string | undefined> {
    return this.transport.latest(userId);
  }

  /** Deletes every archive of the user (the account was deleted); returns how many. */
  deleteAll(userId: string): Promise<number> {
    return this.transport.deleteAll(userId);
  }

  /** Replaces `dir` with the archive's contents. */
  async restore(key: string, dir: string): Promise<void> {
    // Opened (and, through the edge, verified) before the current state is touched.
    const body = await this.transport.open(key);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await pipeline(body, tar.extract({ cwd: dir, preservePaths: false }));
  }
}
