/** Browser-side API client: one place that turns the error envelope into a readable message. */
import type { ErrorEnvelope } from "@oc/contracts/errors";

/** The envelope's error, with the validation details the edge's hook attaches (edge/src/errors.ts). */
export type ApiError = Omit<ErrorEnvelope["error"], "details"> & { details?: { path: string; message: string }[] };

export class ApiFailure extends Error {
  constructor(
    public readonly error: ApiError,
    public readonly status: number,
  ) {
    super(error.message);
  }
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(`/api${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: init.body === undefined ? {} : { "content-type": "application/json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    credentials: "same-origin",
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const error: ApiError = data?.error ?? { code: "INTERNAL", message: `Request failed (${res.status})`, requestId: "" };
    throw new ApiFailure(error, res.status);
  }
  return data as T;
}

export interface User {
  id: string;
  email: string;
  name: string | null;
  role: "user" | "admin";
  emailVerified: boolean;
  twoFactorEnabled: boolean;
}
