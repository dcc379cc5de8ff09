import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { UserAgentRpc } from "@oc/contracts/rpc";

/** How long one event stream stays open; EventSource reconnects by itself, resuming at Last-Event-ID. */
const STREAM_MS = 5 * 60_000;
const POLL_MS = 1_000;

/**
 * The Activity Feed and the Control Center's live progress: new activity events and status changes from the
 * user's Durable Object, pushed as server-sent events. The object is asked once a second (a cheap indexed
 * read); an idle stream sends a comment every 15 s so proxies keep it open.
 */
export function liveEvents(c: Context, account: DurableObjectStub<UserAgentRpc & Rpc.DurableObjectBranded>, lastEventId: number) {
  return streamSSE(c, async (stream) => {
    let after = lastEventId;
    let status = "";
    let quietSince = Date.now();
    const end = Date.now() + STREAM_MS;
    let open = true;
    stream.onAbort(() => void (open = false));
    while (open && Date.now() < end) {
      const [events, snap] = await Promise.all([account.activityAfter(after, 100), account.getSnapshot()]);
      for (const e of events) {
        await stream.writeSSE({ event: "activity", id: String(e.id), data: JSON.stringify(e) });
        after = e.id;
      }
      if (snap.status !== status) {
        status = snap.status;
        await stream.writeSSE({ event: "status", data: JSON.stringify({ status }) });
      }
      if (events.length > 0) quietSince = Date.now();
      else if (Date.now() - quietSince > 15_000) {
        await stream.write(": keep-alive\n\n");
        quietSince = Date.now();
      }
      await stream.sleep(POLL_MS);
    }
  });
}
