import { createMiddleware } from "hono/factory";
import { bodyLimit } from "hono/body-limit";
import { AppError } from "@oc/contracts/errors";
import type { HonoEnv } from "../hono-env";

export const MAX_JSON_BODY = 1024 * 1024;

export const limitBody = (maxSize = MAX_JSON_BODY) =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new AppError("PAYLOAD_TOO_LARGE", `The request body is larger than ${Math.round(maxSize / 1024)} KiB.`);
    },
  });

/**
 * Requests with a body must be JSON, and well-formed: a wrong content type is 415, a broken body 400
 * INVALID_JSON, both before any handler runs. The parsed body is cached by Hono for the validators.
 */
export const requireJson = () =>
  createMiddleware<HonoEnv>(async (c, next) => {
    const method = c.req.method;
    const hasBody = c.req.header("content-length") ? c.req.header("content-length") !== "0" : c.req.raw.body !== null;
    if ((method === "POST" || method === "PUT" || method === "PATCH" || method === "DELETE") && hasBody) {
      const type = c.req.header("content-type") ?? "";
      if (!/^application\/([\w.+-]+\+)?json\b/i.test(type))
        throw new AppError("UNSUPPORTED_MEDIA_TYPE", "Send the request body as JSON (Content-Type: application/json).");
      try {
        await c.req.json();
      } catch {
        throw new AppError("INVALID_JSON", "The request body is not valid JSON.");
      }
    }
    await next();
  });
