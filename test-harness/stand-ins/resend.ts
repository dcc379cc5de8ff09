import { serve } from "./http.ts";

/**
 * Answers the Resend API's POST /emails the way api.resend.com does (bearer key required, id returned) and
 * keeps what it received, readable at GET /_inbox?to=… so tests can follow links in mails.
 */
export async function startResendStandIn(port: number, apiKey: string) {
  const sent: { id: string; from: string; to: string[]; subject: string; text: string; html: string }[] = [];
  return serve(port, (req, body, url) => {
    if (req.method === "GET" && url.pathname === "/_inbox") {
      const to = url.searchParams.get("to");
      return { status: 200, json: sent.filter((m) => !to || m.to.includes(to)) };
    }
    if (req.headers.authorization !== `Bearer ${apiKey}`)
      return { status: 401, json: { statusCode: 401, name: "validation_error", message: "API key is invalid" } };
    if (req.method === "POST" && url.pathname === "/emails") {
      const msg = JSON.parse(body);
      if (!msg.from || !msg.to || !msg.subject)
        return { status: 422, json: { statusCode: 422, name: "missing_required_field", message: "Missing `from`, `to` or `subject`" } };
      const id = crypto.randomUUID();
      sent.push({ id, from: msg.from, to: [msg.to].flat(), subject: msg.subject, text: msg.text, html: msg.html });
      return { status: 200, json: { id } };
    }
    return { status: 404, json: { statusCode: 404, name: "not_found", message: "Route not found" } };
  });
}
