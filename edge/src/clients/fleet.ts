import type { Env } from "../env";

/** The one `FleetScheduler` Durable Object: server orders and the autoscaling decision, serialised. */
export function fleetScheduler(env: Pick<Env, "FLEET">) {
  return env.FLEET.getByName("fleet");
}
