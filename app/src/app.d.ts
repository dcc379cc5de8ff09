declare global {
  namespace App {
    /** What an error page shows: the API's envelope (message, code) and its request id for support. */
    interface Error {
      message: string;
      code?: string;
      requestId?: string;
    }
    interface Platform {
      env?: {
        /** The Hono API, called in process (edge/src/worker.ts puts it here, shaped like a service binding). */
        API?: { fetch(request: Request): Promise<Response> };
        APP_URL?: string;
      };
    }
  }
}
export {};
