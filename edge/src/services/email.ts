import { Resend } from "resend";
import type { Db } from "../db/client";
import { emailOutbox } from "../db/schema";
import { newId } from "../lib/ids";

export interface EmailMessage {
  to: string;
  userId?: string;
  template: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  send(message: EmailMessage): Promise<{ id: string; status: "outbox" | "sent" | "failed" }>;
}

/**
 * Every mail is written to `email_outbox` first. With a Resend key it is then sent through the Resend SDK
 * and the row records the provider id or the failure; without one (dev) the row is the outbox that the
 * dashboard's dev page and the log show. A send failure never fails the user's request.
 */
export function createMailer(db: Db, opts: { from: string; resendKey?: string; resendBaseUrl?: string }): Mailer {
  const resend = opts.resendKey ? new Resend(opts.resendKey, opts.resendBaseUrl ? { baseUrl: opts.resendBaseUrl } : undefined) : undefined;
  return {
    async send(message) {
      const id = newId("eml");
      if (!resend) {
        await db.insert(emailOutbox).values({ id, ...message, status: "outbox" });
        console.log(`[email:outbox] to=${message.to} template=${message.template} subject="${message.subject}"\n${message.text}`);
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
      await db.insert(emailOutbox).values({ id, ...message, status, providerId: data?.id ?? null, error: error?.message ?? null });
      if (error) console.error(`[email] resend failed for ${message.template}: ${error.message}`);
      return { id, status };
    },
  };
}

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
    subject: "Confirm your email for OpenClaw Cloud",
    text: `Welcome to OpenClaw Cloud!\n\nConfirm your email address to finish setting up your account:\n${url}\n\nThe link is valid for 24 hours.`,
    html: layout("Welcome to OpenClaw Cloud", "Confirm your email address to finish setting up your account. The link is valid for 24 hours.", {
      label: "Confirm email",
      url,
    }),
  }),
  resetPassword: (url: string) => ({
    template: "reset_password",
    subject: "Reset your OpenClaw Cloud password",
    text: `Someone asked to reset the password of your OpenClaw Cloud account.\n\nChoose a new password here (valid for 1 hour):\n${url}\n\nIf it was not you, ignore this mail: your password stays as it is.`,
    html: layout("Reset your password", "Choose a new password with the button below (valid for 1 hour). If it was not you, ignore this mail.", {
      label: "Choose a new password",
      url,
    }),
  }),
};
