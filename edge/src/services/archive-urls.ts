import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";

/**
 * Presigned S3 URLs for agent state archives, signed with the official SDK's SigV4 signer (the full S3
 * client does not belong in a Worker). Pure: no HTTP, no storage; the edge's archive service decides which
 * URL a node may have, this only signs it. Payloads are UNSIGNED-PAYLOAD, as in the SDK's own presigner;
 * the archive's integrity is the sha256 the edge records and the restoring node checks.
 */
export interface S3Target {
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** Presigned URLs live this long: one sleep or one restore, never a standing credential. */
export const URL_TTL_SECONDS = 15 * 60;
/** Archives above this go up in parts (S3 needs ≥ 5 MiB parts except the last, and ≤ 10,000 parts). */
export const MULTIPART_THRESHOLD = 64 * 1024 * 1024;
export const PART_SIZE = 16 * 1024 * 1024;

/** Archive keys the edge issues: `state/<userId>/<timestamp>.tar.gz` and nothing else. */
export const archiveKey = (userId: string, at = new Date()) => `state/${userId}/${at.toISOString().replace(/[:.]/g, "-")}.tar.gz`;
export const isArchiveKeyOf = (userId: string, key: string) => /^state\/usr_[a-z2-7]{24}\/[0-9TZ-]{20,30}\.tar\.gz$/.test(key) && key.startsWith(`state/${userId}/`);

export async function presign(
  t: S3Target,
  method: "GET" | "PUT" | "POST" | "DELETE",
  key: string,
  query: Record<string, string> = {},
  expiresIn = URL_TTL_SECONDS,
  now = new Date(),
): Promise<string> {
  const url = new URL(t.endpoint);
  // Path-style (endpoint/bucket/key): works for every S3-compatible store and any bucket name.
  const path = `${url.pathname.replace(/\/$/, "")}/${encodeURIComponent(t.bucket)}/${key.split("/").map(encodeURIComponent).join("/")}`;
  const signer = new SignatureV4({
    service: "s3",
    region: t.region,
    sha256: Sha256,
    credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey },
    uriEscapePath: false,
  });
  const unsigned = new Set(["x-amz-content-sha256"]);
  const signed = await signer.presign(
    {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path,
      query,
      headers: { host: url.host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
    },
    { expiresIn, signingDate: now, unsignableHeaders: unsigned, unhoistableHeaders: unsigned },
  );
  // Encoded the signer's way (RFC 3986, sorted), not URLSearchParams' ("+" for spaces).
  const search = Object.entries(signed.query ?? {})
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(Array.isArray(v) ? v.join(",") : String(v ?? ""))}`)
    .join("&");
  return `${url.protocol}//${url.host}${path}?${search}`;
}

const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The URLs for one upload: a single PUT, or a multipart upload's create, parts and completion. */
export async function uploadPlan(t: S3Target, key: string, bytes: number, uploadId?: string, sizes = { threshold: MULTIPART_THRESHOLD, partSize: PART_SIZE }) {
  if (bytes <= sizes.threshold) return { key, mode: "single" as const, url: await presign(t, "PUT", key) };
  if (!uploadId) return { key, mode: "multipart" as const, createUrl: await presign(t, "POST", key, { uploads: "" }) };
  const parts = Math.ceil(bytes / sizes.partSize);
  if (parts > 10_000) throw new Error("archive too large");
  const partUrls = await Promise.all(Array.from({ length: parts }, (_, i) => presign(t, "PUT", key, { partNumber: String(i + 1), uploadId })));
  return { key, mode: "parts" as const, partSize: sizes.partSize, partUrls, completeUrl: await presign(t, "POST", key, { uploadId }), abortUrl: await presign(t, "DELETE", key, { uploadId }) };
}
