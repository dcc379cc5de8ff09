import { S3Client } from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Owner } from "./safe-fs";
import { ArchiveRefused, packState, unpackState } from "./state-archive";
import { S3Transport, type ArchiveTransport } from "./archive-transport";

/**
 * Sleeping agents' state lives in S3 (any S3-compatible store). An archive is a gzip tarball of the state
 * dir (state-archive.ts: no link followed, nothing that would not restore, checked in full before a restore
 * touches the agent), taken only after the container stopped (never live SQLite files), without the
 * regenerable cache and tmp folders. Keys are `state/<userId>/<timestamp>.tar.gz`; the newest is the one to
 * restore.
 */
export { EXCLUDED, SEEDED } from "./state-archive";

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
      await packState(dir, file);
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

  /**
   * Replaces `dir` with the archive's contents, owned by `owner`. The archive is downloaded (and, through the
   * edge, verified) in full first; a refused one (see state-archive.ts) is logged with its reason and leaves
   * `dir` as it was.
   */
  async restore(key: string, dir: string, owner?: Owner): Promise<void> {
    const file = join(tmpdir(), `oc-restore-${randomBytes(8).toString("hex")}.tar.gz`);
    try {
      await pipeline(await this.transport.open(key), createWriteStream(file, { flags: "wx", mode: 0o600 }));
      await unpackState(file, dir, { owner });
    } catch (e) {
      if (e instanceof ArchiveRefused) {
        console.warn(`[node-agent] refused to restore ${key}: ${e.message}`);
        throw new Error(`refused to restore ${key}: ${e.message}`);
      }
      throw e;
    } finally {
      await rm(file, { force: true });
    }
  }
}
