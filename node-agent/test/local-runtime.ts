import { S3Client } from "@aws-sdk/client-s3";
import { mkdtempSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";
import { AgentRuntime } from "../src/agent-lifecycle";
import { DockerodeClient } from "../src/dockerode-client";
import { StateStore } from "../src/state-store";

/**
 * A local S3-compatible store for tests and benches: s3rver in-process on a free loopback port, its bucket,
 * an official-SDK client for it and the node's `StateStore` over that client.
 */
export async function localS3() {
  const directory = mkdtempSync(join(tmpdir(), "oc-s3-"));
  const s3 = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory,
    configureBuckets: [{ name: "openclaw-state" }],
  });
  const { port } = await s3.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  const store = new StateStore({ client, bucket: "openclaw-state" });
  // The bucket's folder goes with the server: runs outside `npm test` (benchmarks) leave nothing in /tmp.
  const close = async () => {
    await s3.close();
    rmSync(directory, { recursive: true, force: true });
  };
  return { endpoint, client, store, close };
}

/**
 * An agent runtime for tests and benches: the real Docker engine (DOCKER_HOST), `localS3()` and a fresh state
 * root. `close` stops the store and removes the state root once it is empty (every agent's state removed); a
 * leftover is kept to be looked at.
 */
export async function localRuntime(readyTimeoutMs = 120_000, opts: Omit<ConstructorParameters<typeof AgentRuntime>[2], "stateRoot" | "readyTimeoutMs"> = {}) {
  const s3 = await localS3();
  const docker = new DockerodeClient();
  const stateRoot = mkdtempSync(join(tmpdir(), "oc-states-"));
  const runtime = new AgentRuntime(docker, s3.store, { ...opts, stateRoot, readyTimeoutMs });
  const close = async () => {
    await s3.close();
    try {
      rmdirSync(stateRoot);
    } catch {}
  };
  return { docker, store: s3.store, runtime, stateRoot, client: s3.client, close };
}
