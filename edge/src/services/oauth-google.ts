import { CodeChallengeMethod, OAuth2Client, generateCodeVerifier, generateState } from "arctic";
import { and, eq } from "drizzle-orm";
import { z } from "zod";
import { AppError } from "@oc/contracts/errors";
import { oauthAccounts, users } from "@oc/db/schema";
import { randomToken } from "@oc/contracts/crypto";
import { newId } from "@oc/contracts/ids";
import { audit } from "./audit";
import type { RequestMeta, Services } from "./context";
import { onUserCreated, sessionOrChallenge, type LoginResult } from "./accounts";
import { revokeEveryAccess } from "./account-reset";

/**
 * Google sign-in through arctic's generic OAuth 2.0 client (PKCE). The endpoints come from the env schema,
 * Google's by default, so tests point them at a local OAuth stand-in without touching this code.
 */
function client(s: Services) {
  const { GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, APP_URL } = s.env;
  if (!GOOGLE_CLIENT_ID || !GOOGLE_CLIENT_SECRET) throw new AppError("NOT_FOUND", "Google sign-in is not configured on this platform.");
  return new OAuth2Client(GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, `${APP_URL}/api/auth/google/callback`);
}

export function startGoogleLogin(s: Services) {
  const state = generateState();
  const codeVerifier = generateCodeVerifier();
  const url = client(s).createAuthorizationURLWithPKCE(s.env.GOOGLE_AUTH_URL, state, CodeChallengeMethod.S256, codeVerifier, ["openid", "email", "profile"]);
  return { url: url.toString(), state, codeVerifier };
}

const userInfo = z.object({
  sub: z.string().min(1),
  email: z.email(),
  email_verified: z.boolean(),
  name: z.string().optional(),
});

export async function finishGoogleLogin(s: Services, code: string, codeVerifier: string, meta: RequestMeta): Promise<LoginResult> {
  let profile: z.infer<typeof userInfo>;
  try {
    const tokens = await client(s).validateAuthorizationCode(s.env.GOOGLE_TOKEN_URL, code, codeVerifier);
    const res = await fetch(s.env.GOOGLE_USERINFO_URL, { headers: { Authorization: `Bearer ${tokens.accessToken()}` } });
    if (!res.ok) throw new Error(`userinfo ${res.status}`);
    profile = userInfo.parse(await res.json());
  } catch (cause) {
    throw new AppError("OAUTH_FAILED", "Google sign-in did not complete. Please try again.", { cause });
  }
  if (!profile.email_verified) throw new AppError("OAUTH_FAILED", "Your Google email address is not verified.");
  const email = profile.email.toLowerCase();

  const [linked] = await s.db
    .select({ userId: oauthAccounts.userId })
    .from(oauthAccounts)
    .where(and(eq(oauthAccounts.provider, "google"), eq(oauthAccounts.providerUserId, profile.sub)));
  let userId = linked?.userId;
  if (!userId) {
    const [existing] = await s.db.select({ id: users.id, emailVerifiedAt: users.emailVerifiedAt }).from(users).where(eq(users.email, email));
    if (existing) {
      userId = existing.id;
      // Someone may have registered this address without owning it ("pre-hijacking") and set up ways back in
      // while waiting for the owner. Google has now proven who owns it: everything the earlier, unproven holder
      // set up goes (password, sessions, API keys, 2FA, recovery codes, channels, the referral they chose), and
      // the owner starts from a clean account. A confirmed account is the owner's already and keeps its own.
      if (!existing.emailVerifiedAt) {
        await revokeEveryAccess(s, existing.id, meta, "an unconfirmed address was claimed through Google");
        await s.db
          .update(users)
          .set({ emailVerifiedAt: new Date(), passwordHash: null, name: profile.name ?? null, referredBy: null, updatedAt: new Date() })
          .where(eq(users.id, existing.id));
      }
    } else {
      userId = newId("usr");
      await s.db.insert(users).values({ id: userId, email, name: profile.name ?? null, emailVerifiedAt: new Date(), referralCode: randomToken(6) });
      await onUserCreated(s, userId);
    }
    await s.db.insert(oauthAccounts).values({ provider: "google", providerUserId: profile.sub, userId, email }).onConflictDoNothing();
  }
  const [u] = await s.db.select({ totpEnabledAt: users.totpEnabledAt }).from(users).where(eq(users.id, userId));
  audit(s, meta, userId, "account.oauth", { provider: "google" });
  return sessionOrChallenge(s, userId, !!u?.totpEnabledAt, meta);
}
