/**
 * Presigned S3 URLs for agent state archives (SigV4 query signing with WebCrypto, so it runs in the
 * Worker without the S3 client; node-agent/test checks it byte for byte against the official SDK signer
 * and against s3rver, which verifies every signature). Pure: no HTTP, no storage; the edge's archive
 * service decides which URL a node may have, this only signs it. Payloads are UNSIGNED-PAYLOAD, as in the
 * SDK's own presigner; an archive's integrity is the sha256 the edge records and the restoring node checks.
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
export const isArchiveKeyOf = (userId: string, key: string) =>
  /^state\/usr_[a-z2-7]{24}\/[0-9TZ-]{20,30}\.tar\.gz$/.test(key) && key.startsWith(`state/${userId}/`);

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
  const path = `${url.pathname.replace(/\/$/, "")}/${rfc3986(t.bucket)}/${key.split("/").map(rfc3986).join("/")}`;
  const longDate = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const shortDate = longDate.slice(0, 8);
  const scope = `${shortDate}/${t.region}/s3/aws4_request`;
  const params: Record<string, string> = {
    ...query,
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": `${t.accessKeyId}/${scope}`,
    "X-Amz-Date": longDate,
    "X-Amz-Expires": String(expiresIn),
    "X-Amz-SignedHeaders": "host",
  };
  const canonicalQuery = Object.keys(params)
    .sort()
    .map((k) => `${rfc3986(k)}=${rfc3986(params[k]!)}`)
    .join("&");
  const canonicalRequest = [method, path, canonicalQuery, `host:${url.host}\n`, "host", "UNSIGNED-PAYLOAD"].join("\n");
  const stringToSign = ["AWS4-HMAC-SHA256", longDate, scope, hex(await crypto.subtle.digest("SHA-256", utf8(canonicalRequest)))].join("\n");
  let signingKey: ArrayBuffer = utf8(`AWS4${t.secretAccessKey}`).buffer as ArrayBuffer;
  for (const part of [shortDate, t.region, "s3", "aws4_request"]) signingKey = await hmac(signingKey, part);
  const signature = hex(await hmac(signingKey, stringToSign));
  return `${url.protocol}//${url.host}${path}?${canonicalQuery}&X-Amz-Signature=${signature}`;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
async function hmac(key: ArrayBuffer, data: string): Promise<ArrayBuffer> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", k, utf8(data));
}
/** SigV4's URI encoding: RFC 3986 unreserved characters stay, everything else is %XX. */
const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The URLs for one upload: a single PUT, or a multipart upload's create, parts and completion. */
export async function uploadPlan(t: S3Target, key: string, bytes: number, uploadId?: string, sizes = { threshold: MULTIPART_THRESHOLD, partSize: PART_SIZE }) {
  if (bytes <= sizes.threshold) return { key, mode: "single" as const, url: await presign(t, "PUT", key) };
  if (!uploadId) return { key, mode: "multipart" as const, createUrl: await presign(t, "POST", key, { uploads: "" }) };
  const parts = Math.ceil(bytes / sizes.partSize);
  if (parts > 10_000) throw new Error("archive too large");
  const partUrls = await Promise.all(Array.from({ length: parts }, (_, i) => presign(t, "PUT", key, { partNumber: String(i + 1), uploadId })));
  return {
    key,
    mode: "parts" as const,
    partSize: sizes.partSize,
    partUrls,
    completeUrl: await presign(t, "POST", key, { uploadId }),
    abortUrl: await presign(t, "DELETE", key, { uploadId }),
  };
}
