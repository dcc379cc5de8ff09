import { fromBase64, timingSafeEqual, toBase64Url } from "@oc/contracts/crypto";

/**
 * Password hashing with PBKDF2-HMAC-SHA256 through WebCrypto: a KDF made for passwords that runs natively
 * in workerd (argon2/scrypt would be pure JS there and cost far more CPU per login). 100,000 iterations is
 * the most workerd allows. The encoded form carries its parameters so they can be raised later.
 */
const ITERATIONS = 100_000;
const enc = new TextEncoder();

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", enc.encode(password.normalize("NFKC")), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256);
  return new Uint8Array(bits);
}

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await derive(password, salt, ITERATIONS);
  return `pbkdf2-sha256$${ITERATIONS}$${toBase64Url(salt)}$${toBase64Url(hash)}`;
}

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const [scheme, iter, salt, hash] = encoded.split("$");
  if (scheme !== "pbkdf2-sha256" || !iter || !salt || !hash) return false;
  const actual = await derive(password, fromBase64(salt), Number(iter));
  return timingSafeEqual(toBase64Url(actual), hash);
}

/** A hash of a random password, so that a login attempt for an unknown email costs the same time. */
export const DUMMY_HASH = "pbkdf2-sha256$100000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
