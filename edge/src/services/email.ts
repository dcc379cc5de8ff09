import { desc } from "drizzle-orm";
import { Resend } from "resend";
import type { Db } from "@oc/db/client";
import { emailOutbox } from "@oc/db/schema";
import { newId } from "@oc/contracts/ids";

export interface EmailMessage {
  to: string;
  userId?: string;
  template: string;
  subject: string;
  text: string;
  html: string;
  /** Live credentials in the mail (a sign-in or reset link): sent, but never kept in the stored copy. */
  secrets?: string[];
}

export interface Mailer {
  send(message: EmailMessage): Promise<{ id: string; status: "outbox" | "sent" | "failed" }>;
}

/**
 * Every mail is written to `email_outbox` first. With a Resend key it is then sent through the Resend SDK
 * and the row records the provider id or the failure; without one (dev) the row is the outbox that the
 * dashboard's dev page and the log show. A send failure never fails the user's request.
 */
/** The newest stored mails (the dev outbox page). */
export function listOutbox(db: Db, limit = 50) {
  return db.select().from(emailOutbox).orderBy(desc(emailOutbox.createdAt)).limit(limit);
}

export function createMailer(db: Db, opts: { from: string; resendKey?: string; resendBaseUrl?: string; keepSecrets?: boolean }): Mailer {
  const resend = opts.resendKey ? new Resend(opts.resendKey, opts.resendBaseUrl ? { baseUrl: opts.resendBaseUrl } : undefined) : undefined;
  // Only a local development outbox keeps live links (the developer clicks them there); a deployment's
  // stored copy is a record of what was sent, and a database reader must not be able to use it.
  const stored = (m: EmailMessage) => {
    const { secrets = [], ...row } = m;
    if (opts.keepSecrets) return row;
    const strip = (text: string) => secrets.reduce((t, secret) => t.split(secret).join(REDACTED).split(esc(secret)).join(REDACTED), text);
    return { ...row, text: strip(row.text), html: strip(row.html) };
  };
  return {
    async send(message) {
      const id = newId("eml");
      if (!resend) {
        const row = stored(message);
        await db.insert(emailOutbox).values({ id, ...row, status: "outbox" });
        console.log(`[email:outbox] to=${message.to} template=${message.template} subject="${message.subject}"\n${row.text}`);
        return { id, status: "outbox" };
      }
      const { data, error } = await resend.emails.send({
        from: opts.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
      });
      const status = error ? "failed" : "sent";
      await db.insert(emailOutbox).values({ id, ...stored(message), status, providerId: data?.id ?? null, error: error?.message ?? null });
      if (error) console.error(`[email] resend failed for ${message.template}: ${error.message}`);
      return { id, status };
    },
  };
}

const REDACTED = "[link removed from the stored copy]";

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function layout(title: string, body: string, cta?: { label: string; url: string }): string {
  const button = cta
    ? `<p><a href="${esc(cta.url)}" style="background:#4f46e5;color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none">${esc(cta.label)}</a></p>`
    : "";
  return `<!doctype html><html><body style="font-family:system-ui,sans-serif;max-width:560px;margin:auto;padding:24px"><h2>${esc(title)}</h2><p>${esc(body)}</p>${button}<p style="color:#666;font-size:12px">OpenClaw Cloud</p></body></html>`;
}

/** Templates live in code: each returns subject, plain text and HTML. */
export const templates = {
  verifyEmail: (url: string) => ({
    template: "verify_email",
    secrets: [url],
    subject: "Confirm your email for OpenClaw Cloud",
    text: `Welcome to OpenClaw Cloud!\n\nConfirm your email address to finish setting up your account:\n${url}\n\nThe link is valid for 24 hours.`,
    html: layout("Welcome to OpenClaw Cloud", "Confirm your email address to finish setting up your account. The link is valid for 24 hours.", {
      label: "Confirm email",
      url,
    }),
  }),
  resetPassword: (url: string) => ({
    template: "reset_password",
    secrets: [url],
    subject: "Reset your OpenClaw Cloud password",
    text: `Someone asked to reset the password of your OpenClaw Cloud account.\n\nChoose a new password here (valid for 1 hour):\n${url}\n\nIf it was not you, ignore this mail: your password stays as it is.`,
    html: layout("Reset your password", "Choose a new password with the button below (valid for 1 hour). If it was not you, ignore this mail.", {
      label: "Choose a new password",
      url,
    }),
  }),
  signupAttempt: (loginUrl: string, resetUrl: string) => ({
    template: "signup_attempt",
    subject: "Someone tried to sign up with your address",
    text: `Someone just tried to create an OpenClaw Cloud account with this email address, which already has one. Nothing was changed and no new account was made.\n\nIf it was you, sign in here:\n${loginUrl}\n\nForgot your password? Choose a new one:\n${resetUrl}\n\nIf it was not you, you can ignore this mail.`,
    html: layout(
      "Someone tried to sign up with your address",
      "Someone just tried to create an account with this email address, which already has one. Nothing was changed. If it was you, sign in; if you forgot your password, you can choose a new one. If it was not you, ignore this mail.",
      {
        label: "Sign in",
        url: loginUrl,
      },
    ),
  }),
  receipt: (what: string, amount: string, billingUrl: string) => ({
    template: "receipt",
    subject: `Receipt: ${what} (${amount})`,
    text: `Thank you! We received ${amount} for ${what}.\n\nYour invoices are on the billing page:\n${billingUrl}`,
    html: layout("Payment received", `We received ${amount} for ${what}. Your invoices are on the billing page.`, { label: "Open billing", url: billingUrl }),
  }),
  lowBalance: (balance: string, billingUrl: string) => ({
    template: "low_balance",
    subject: "Your OpenClaw Cloud token balance is low",
    text: `Your agent has ${balance} of tokens left. When it runs out, your agent pauses model calls until you top up.\n\nTop up or turn on auto top-up:\n${billingUrl}`,
    html: layout("Your token balance is low", `Your agent has ${balance} of tokens left. Top up or turn on auto top-up so it never stops.`, {
      label: "Top up",
      url: billingUrl,
    }),
  }),
  topUpFailed: (reason: string, billingUrl: string) => ({
    template: "top_up_failed",
    subject: "Your automatic top-up did not go through",
    text: `We tried to top up your token balance automatically, but the payment failed: ${reason}\n\nWe will not try again until you act. Update your card or buy tokens here:\n${billingUrl}`,
    html: layout(
      "Automatic top-up failed",
      `The payment failed: ${reason}. We will not retry on our own. Update your card or buy tokens on the billing page.`,
      { label: "Open billing", url: billingUrl },
    ),
  }),
  agentFailed: (reason: string, dashboardUrl: string) => ({
    template: "agent_failed",
    subject: "Your agent could not start yet",
    text: `Your payment went through, but your agent could not start: ${reason}\n\nWe are on it; you can also retry from the dashboard:\n${dashboardUrl}`,
    html: layout("Your agent could not start yet", `Your payment went through, but your agent could not start: ${reason}. You can retry from the dashboard.`, {
      label: "Open dashboard",
      url: dashboardUrl,
    }),
  }),
  planChanged: (from: string, to: string, billingUrl: string) => ({
    template: "plan_changed",
    subject: `Your plan changed: ${from} → ${to}`,
    text: `Your OpenClaw Cloud plan is now ${to} (was ${from}). Any difference was prorated on your next invoice.\n\n${billingUrl}`,
    html: layout("Your plan changed", `Your plan is now ${to} (was ${from}). Any difference was prorated.`, { label: "Open billing", url: billingUrl }),
  }),
  subscriptionEnded: (graceDays: number, billingUrl: string) => ({
    template: "subscription_ended",
    subject: "Your OpenClaw Cloud subscription has ended",
    text: `Your subscription has ended and your agent is asleep. We keep its memory and files for ${graceDays} days: subscribe again to wake it exactly as it was. After that your account and everything in it are deleted (you can export your data from the Security Center until then).\n\n${billingUrl}`,
    html: layout(
      "Your subscription has ended",
      `Your agent is asleep. We keep its memory and files for ${graceDays} days: subscribe again to wake it exactly as it was. After that your account and everything in it are deleted (export your data from the Security Center until then).`,
      { label: "Subscribe again", url: billingUrl },
    ),
  }),
};
