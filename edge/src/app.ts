import { OpenAPIHono } from "@hono/zod-openapi";
import { AppError } from "../../contracts/src/errors";
import { handleError, handleZodError } from "./errors";
import type { HonoEnv } from "./hono-env";

export type App = OpenAPIHono<HonoEnv>;

/** A router whose validation failures and thrown errors all end in the one error envelope. */
export function newApp(): App {
  const app = new OpenAPIHono<HonoEnv>({ defaultHook: handleZodError });
  app.onError(handleError);
  app.notFound(() => {
    throw new AppError("NOT_FOUND", "No such API route.");
  });
  return app;
}
