import { S3Client } from "@aws-sdk/client-s3";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";
import { AgentRuntime } from "../src/agent-lifecycle";
import { DockerodeClient } from "../src/dockerode-client";
import { StateStore } from "../src/state-store";

/**
 * An agent runtime for tests: the real Docker engine (DOCKER_HOST), a local S3-compatible store (s3rver,
 * in-process on a free loopback port) and a fresh state root.
 */
export async function localRuntime(readyTimeoutMs = 120_000) {
  const s3 = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory: mkdtempSync(join(tmpdir(), "oc-s3-")),
    configureBuckets: [{ name: "openclaw-state" }],
  });
  const { port } = await s3.run();
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  const docker = new DockerodeClient();
  const stateRoot = mkdtempSync(join(tmpdir(), "oc-states-"));
  const store = new StateStore({ client, bucket: "openclaw-state" });
  const runtime = new AgentRuntime(docker, store, { stateRoot, readyTimeoutMs });
  return { docker, store, runtime, stateRoot, client, close: () => s3.close() };
}
