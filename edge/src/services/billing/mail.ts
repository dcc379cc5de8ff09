import { templates } from "../email";
import type { Services } from "../context";

const usd = (cents: number) => `$${(cents / 100).toFixed(2)}`;
const billingUrl = (s: Services) => `${s.env.APP_URL}/dashboard/billing`;
type To = { id: string; email: string };

/** Billing's mails: the templates live in email.ts; this only fills them in. */
export const billingMail = {
  receipt: (s: Services, to: To, what: string, cents: number) =>
    s.mailer.send({ to: to.email, userId: to.id, ...templates.receipt(what, usd(cents), billingUrl(s)) }),
  lowBalance: (s: Services, to: To, micros: number) =>
    s.mailer.send({ to: to.email, userId: to.id, ...templates.lowBalance(usd(Math.floor(micros / 10_000)), billingUrl(s)) }),
  topUpFailed: (s: Services, to: To, reason: string) => s.mailer.send({ to: to.email, userId: to.id, ...templates.topUpFailed(reason, billingUrl(s)) }),
  agentFailed: (s: Services, to: To, reason: string) =>
    s.mailer.send({ to: to.email, userId: to.id, ...templates.agentFailed(reason, `${s.env.APP_URL}/dashboard`) }),
  planChanged: (s: Services, to: To, from: string, plan: string) =>
    s.mailer.send({ to: to.email, userId: to.id, ...templates.planChanged(from, plan, billingUrl(s)) }),
  subscriptionEnded: (s: Services, to: To, graceDays: number) =>
    s.mailer.send({ to: to.email, userId: to.id, ...templates.subscriptionEnded(graceDays, billingUrl(s)) }),
};
