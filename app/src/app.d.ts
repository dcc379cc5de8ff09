declare global {
  namespace App {
    interface Platform {
      env?: {
        /** The Hono API, called in process (edge/src/worker.ts puts it here, shaped like a service binding). */
        API?: { fetch(request: Request): Promise<Response> };
      };
    }
    /** What a failed form action gives its page: the API's message and code, and the fields to refill. */
    interface ActionFailureData {
      message: string;
      code: string;
      values?: Record<string, string>;
    }
  }
}
export {};
