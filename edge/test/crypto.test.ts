import { describe, expect, it } from "vitest";
import { SecretBox, timingSafeEqual } from "@oc/contracts/crypto";
import { hashPassword, verifyPassword } from "../src/services/password";

const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));

describe("SecretBox (AES-256-GCM)", () => {
  it("round-trips and never repeats a ciphertext", async () => {
    const box = new SecretBox(key);
    const a = await box.encrypt("123456:telegram-bot-token", "usr_1");
    const b = await box.encrypt("123456:telegram-bot-token", "usr_1");
    expect(a).not.toBe(b);
    expect(a).not.toContain("telegram");
    expect(await box.decrypt(a, "usr_1")).toBe("123456:telegram-bot-token");
  });

  it("fails for another context, a tampered ciphertext, or another key", async () => {
    const box = new SecretBox(key);
    const sealed = await box.encrypt("secret", "usr_1");
    await expect(box.decrypt(sealed, "usr_2")).rejects.toThrow();
    const [v, iv, ct] = sealed.split(".");
    // The second-to-last character is replaced by one it is not (all six of its bits are ciphertext).
    const flipped = `${v}.${iv}.${ct!.slice(0, -2)}${ct!.at(-2) === "A" ? "B" : "A"}${ct!.slice(-1)}`;
    expect(flipped).not.toBe(sealed);
    await expect(box.decrypt(flipped, "usr_1")).rejects.toThrow();
    const other = new SecretBox(btoa("x".repeat(32)));
    await expect(other.decrypt(sealed, "usr_1")).rejects.toThrow();
  });
});

describe("password hashing", () => {
  it("verifies the right password only, with a fresh salt each time", async () => {
    const h1 = await hashPassword("correct horse battery");
    const h2 = await hashPassword("correct horse battery");
    expect(h1).not.toBe(h2);
    expect(await verifyPassword("correct horse battery", h1)).toBe(true);
    expect(await verifyPassword("correct horse batterY", h1)).toBe(false);
    expect(await verifyPassword("anything", "garbage")).toBe(false);
  });

  it("compares in constant time shape", () => {
    expect(timingSafeEqual("abc", "abc")).toBe(true);
    expect(timingSafeEqual("abc", "abd")).toBe(false);
    expect(timingSafeEqual("abc", "abcd")).toBe(false);
  });
});
