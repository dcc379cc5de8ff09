/**
 * Small crypto helpers shared by the edge and the Durable Objects on WebCrypto (available in workerd and Node alike).
 * - tokens: 32 random bytes, base64url; only their SHA-256 is stored, so a database leak yields nothing usable.
 * - SecretBox: AES-256-GCM with ENCRYPTION_KEY for secrets we must read back (TOTP seeds, channel tokens).
 */
const enc = new TextEncoder();

export function toBase64Url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Standard (padded) base64, as Node's Buffer writes it. */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export function fromBase64(s: string): Uint8Array {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

export function randomToken(bytes = 32): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export const fromHex = (hex: string) => new Uint8Array((hex.match(/../g) ?? []).map((b) => parseInt(b, 16)));

export const toHex = (bytes: ArrayBuffer | Uint8Array) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");

export async function sha256Hex(input: string): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", enc.encode(input)));
}

/** HMAC-SHA256 of `data` with `secret`, hex (Slack's and Meta's webhook signatures). */
export async function hmacSha256Hex(secret: string, data: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return toHex(await crypto.subtle.sign("HMAC", key, enc.encode(data)));
}

/** Constant-time comparison of two equal-purpose strings (hashes, signatures). */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = enc.encode(a);
  const y = enc.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** Format: `v1.<iv b64url>.<ciphertext+tag b64url>`; the version prefix leaves room for key rotation. */
export class SecretBox {
  // Typed from importKey itself: the global CryptoKey type differs between the workers and the Node typings.
  private key: ReturnType<typeof crypto.subtle.importKey>;

  constructor(base64Key: string) {
    this.key = crypto.subtle.importKey("raw", fromBase64(base64Key), "AES-GCM", false, ["encrypt", "decrypt"]);
  }

  async encrypt(plaintext: string, context = ""): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(context) }, await this.key, enc.encode(plaintext));
    return `v1.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(ct))}`;
  }

  /** `context` (e.g. the owning user id) is bound as associated data: a ciphertext moved to another row fails. */
  async decrypt(sealed: string, context = ""): Promise<string> {
    const [version, iv, ct] = sealed.split(".");
    if (version !== "v1" || !iv || !ct) throw new Error("unknown secret format");
    const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromBase64(iv), additionalData: enc.encode(context) }, await this.key, fromBase64(ct));
    return new TextDecoder().decode(pt);
  }
}
