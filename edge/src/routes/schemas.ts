import { z } from "@hono/zod-openapi";

/** Schemas shared by several routes. */
export const email = z.email().max(254).openapi({ example: "ada@example.com" });
export const password = z.string().min(10, "must be at least 10 characters").max(200).openapi({ example: "correct horse battery staple" });

export const publicUser = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string().nullable(),
    role: z.enum(["user", "admin"]),
    emailVerified: z.boolean(),
    twoFactorEnabled: z.boolean(),
  })
  .openapi("User");

export const ok = z.object({ ok: z.literal(true) }).openapi("Ok");

export const json = <T extends z.ZodType>(schema: T, description = "OK") => ({
  description,
  content: { "application/json": { schema } },
});

export const body = <T extends z.ZodType>(schema: T) => ({
  body: { required: true, content: { "application/json": { schema } } },
});

export function toPublicUser(u: {
  id: string;
  email: string;
  name: string | null;
  role: "user" | "admin";
  emailVerifiedAt: Date | null;
  totpEnabledAt: Date | null;
}) {
  return { id: u.id, email: u.email, name: u.name, role: u.role, emailVerified: !!u.emailVerifiedAt, twoFactorEnabled: !!u.totpEnabledAt };
}
