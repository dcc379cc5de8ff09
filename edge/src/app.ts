import { OpenAPIHono } from "@hono/zod-openapi";
import { AppError } from "@oc/contracts/errors";
import { errorResponse, handleError, handleZodError } from "./errors";
import type { HonoEnv } from "./hono-env";

export type App = OpenAPIHono<HonoEnv>;

/** A router whose validation failures and thrown errors all end in the one error envelope. */
export function newApp(basePath = "/"): App {
  // Handlers are set after basePath(): OpenAPIHono's basePath() clone does not carry the notFound handler.
  const app = new OpenAPIHono<HonoEnv>({ defaultHook: handleZodError }).basePath(basePath);
  app.onError(handleError);
  app.notFound((c) => errorResponse(c, new AppError("NOT_FOUND", "No such API route.")));
  return app;
}
