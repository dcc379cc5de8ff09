import type { Env } from "../env";
import { TIERS, tierRank, type Api } from "./catalog";
import { chargeFor, type MeteredUsage } from "./hold";
import type { Fail } from "./intake";
import { UsageMeter, usageOfJson } from "./meter";
import { badAnswer } from "./routing/escalation";
import type { Forwarded } from "./forward";
import type { Answered, Settle } from "./settle";
import { StreamTranslator, translateResponse } from "./translate";
import { callUpstream, type Endpoint } from "./upstream";

/**
 * The client's answer: the upstream's failure in the client's format, a whole JSON answer (with one
 * escalation a tier up for a detectably bad cheap answer), or the stream passed through untouched while its
 * usage is read. Each path hands the usage it saw to `settle`, exactly once.
 */

/** No model answered: the hold is released, and the client gets the timeout, the provider's 4xx, or a 502. */
export function upstreamFailed(ctx: ExecutionContext, settle: Settle, { failure, failedAcross }: Forwarded, requestId: string, fail: Fail): Response {
  ctx.waitUntil(settle({ inputTokens: 0, outputTokens: 0, cachedTokens: 0 }, true));
  if (failure?.timeout) return fail("timeout", "The model provider did not answer in time. Please retry.");
  if (failure && !failure.retryable && failure.body && !failedAcross) {
    return new Response(JSON.stringify(failure.body), { status: failure.status, headers: { "content-type": "application/json", "x-request-id": requestId } });
  }
  return fail("upstream", "The model providers are unavailable right now. Please retry in a moment.", "upstream_unavailable");
}

/**
 * The whole answer. A cheap model's detectably bad answer is retried once a tier up (the hold already
 * covers it); the answering model and tier are in the headers either way.
 */
export async function wholeAnswer(
  ctx: ExecutionContext,
  env: Env,
  endpoint: Endpoint,
  api: Api,
  upstream: Response,
  /** Who answered (set); an escalation changes it here, and settle reads it. */
  answered: Answered,
  retryBody: () => BodyInit,
  facts: Parameters<typeof chargeFor>[2],
  headers: Headers,
  estimatedInput: number,
  settle: Settle,
  fail: Fail,
  signal: AbortSignal,
): Promise<Response> {
  let text: string;
  try {
    text = await upstream.text();
  } catch {
    ctx.waitUntil(settle({ inputTokens: estimatedInput, outputTokens: 0, cachedTokens: 0 }, false));
    return fail("upstream", "The model provider's answer broke off. Please retry.", "upstream_unavailable");
  }
  let usage: MeteredUsage | undefined;
  try {
    let parsed = JSON.parse(text);
    usage = usageOfJson(answered.used!.api, parsed);
    const { routed } = answered;
    const why = routed.escalation && answered.used!.api === api ? badAnswer(answered.used!.api, parsed) : undefined;
    if (why && usage && routed.escalation) {
      const retry = await callUpstream(env, endpoint, retryBody(), signal);
      if (retry.ok) {
        answered.escalated = { from: answered.used!.id, why, wholesale: chargeFor(answered.used!, usage, facts), usage };
        answered.used = routed.escalation;
        answered.routed = { ...routed, tier: TIERS[Math.min(TIERS.length - 1, tierRank(routed.tier) + 1)]! };
        text = await retry.response.text();
        parsed = JSON.parse(text);
        usage = usageOfJson(answered.used!.api, parsed);
        headers.set("x-oc-model", answered.used!.id);
        headers.set("x-oc-tier", answered.routed.tier);
      }
    }
    if (answered.used!.api !== api) text = JSON.stringify(translateResponse(answered.used!.api, parsed));
  } catch {
    /* not JSON: estimate below */
  }
  ctx.waitUntil(settle(usage ?? { inputTokens: estimatedInput, outputTokens: Math.ceil(text.length / 4), cachedTokens: 0 }, !!usage));
  return new Response(text, { status: upstream.status, headers });
}

/**
 * The stream, passed through as it arrives. Usage is read from the upstream's own stream; a cross-provider
 * answer is rewritten for the client after. A client that goes away does not end the metering (see cancel).
 */
export function streamAnswer(
  upstream: Response,
  used: NonNullable<Answered["used"]>,
  api: Api,
  headers: Headers,
  estimatedInput: number,
  settle: Settle,
  abort: AbortController,
): Response {
  headers.set("cache-control", "no-cache");
  const meter = new UsageMeter(used.api, estimatedInput);
  const translator = used.api !== api ? new StreamTranslator(used.api, used.id) : undefined;
  const reader = upstream.body!.getReader();
  let settledOnce = false;
  const finish = () => {
    if (settledOnce) return;
    settledOnce = true;
    const { usage, complete } = meter.result();
    void settle(usage, complete);
  };
  // A read the client's pull started; when the client goes away mid-read, the drain takes it over.
  let inflight: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  let draining = false;
  const out = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const read = (inflight = reader.read());
        const { value, done: end } = await read;
        if (draining) return; // the drain owns this result now
        inflight = undefined;
        if (end) {
          finish();
          controller.close();
          return;
        }
        meter.push(value);
        controller.enqueue(translator ? translator.push(value) : value);
      } catch (e) {
        if (draining) return;
        finish(); // the upstream broke mid-stream: charge what was streamed
        controller.error(e);
      }
    },
    cancel() {
      // The client went away. The provider bills the whole answer (and any hidden reasoning) whether or not
      // anyone reads it, so the stream is read on, bounded, to its final usage event before settling.
      draining = true;
      const pending = inflight;
      inflight = undefined;
      drainToUsage(reader, meter, pending).finally(() => {
        finish();
        abort.abort();
        reader.cancel().catch(() => {});
      });
    },
  });
  return new Response(out, { status: upstream.status, headers });
}

/** How long, and how many bytes, an abandoned stream is read on for its usage (within waitUntil's 30 s). */
export const DRAIN_MS = 25_000;
export const DRAIN_BYTES = 8 * 1024 * 1024;

async function drainToUsage(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  meter: UsageMeter,
  pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined,
) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), DRAIN_MS)));
  const limit = meter.bytes + DRAIN_BYTES;
  try {
    while (!meter.final && meter.bytes < limit) {
      const r = await Promise.race([pending ?? reader.read(), timeout]);
      pending = undefined;
      if (r === "timeout" || r.done) break;
      meter.push(r.value);
    }
  } catch {
    /* the upstream broke: settle with what was seen */
  } finally {
    clearTimeout(timer);
  }
}
