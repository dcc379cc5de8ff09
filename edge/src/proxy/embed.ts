import OpenAI from "openai";
import type { Env } from "../env";

/**
 * Embeddings for the platform's own use (Memory Manager search), through the official OpenAI SDK. Metered
 * model calls do not come here: the proxy forwards the client's own request bytes (forward.ts).
 */
const clients = new Map<string, OpenAI>();

export async function embed(env: Env, input: string[], dimensions = 1536): Promise<number[][]> {
  const k = `${env.OPENAI_BASE_URL}|${env.OPENAI_API_KEY}|${env.UPSTREAM_TIMEOUT_MS}`;
  let openai = clients.get(k);
  if (!openai) {
    openai = new OpenAI({ apiKey: env.OPENAI_API_KEY ?? "missing", baseURL: env.OPENAI_BASE_URL, maxRetries: 0, timeout: env.UPSTREAM_TIMEOUT_MS });
    clients.set(k, openai);
  }
  const res = await openai.embeddings.create({ model: "text-embedding-3-small", input, dimensions });
  return res.data.sort((a, b) => a.index - b.index).map((d) => d.embedding);
}
