declare global {
  namespace App {
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
