import axios from "axios";
import { Configuration, VPSPostInstallScriptsApi, VPSVirtualMachineApi, type VPSV1VirtualMachineSetupRequest } from "hostinger-api-sdk";
import type { Env } from "../../env";
import { randomToken } from "@oc/contracts/crypto";
import type { NodeOrder, NodeProvider } from "./provider";

/**
 * Buys a VPS through Hostinger's public API with its official SDK: the bootstrap is stored as a
 * post-install script, then the machine is purchased with it. The SDK's axios runs on the Workers runtime
 * through its fetch adapter. HOSTINGER_API_BASE (tests only) points it at a local stand-in.
 */
export function hostingerProvider(env: Env): NodeProvider | undefined {
  if (!env.HOSTINGER_API_TOKEN) return undefined;
  const config = new Configuration({ accessToken: env.HOSTINGER_API_TOKEN, basePath: env.HOSTINGER_API_BASE ?? "https://developers.hostinger.com" });
  const http = axios.create({ adapter: "fetch", timeout: 30_000 });
  return {
    name: "hostinger",
    async order(req: NodeOrder) {
      if (!env.HOSTINGER_PAYMENT_METHOD_ID) throw new Error("HOSTINGER_PAYMENT_METHOD_ID is not set: the order cannot be paid");
      const script = await new VPSPostInstallScriptsApi(config, undefined, http).createPostInstallScriptV1({
        name: `openclaw-node-${req.orderId}`,
        content: req.bootstrapScript,
      });
      const setup = {
        template_id: env.HOSTINGER_TEMPLATE_ID,
        data_center_id: env.HOSTINGER_DATA_CENTER_ID,
        post_install_script_id: script.data.id,
        hostname: req.hostname,
        // Required by the API; nobody logs in with it (the node is managed through its agent only).
        password: `${randomToken(24)}Aa1!`,
        install_monarx: false,
        enable_backups: false,
      } as VPSV1VirtualMachineSetupRequest;
      const res = await new VPSVirtualMachineApi(config, undefined, http).purchaseNewVirtualMachineV1({
        item_id: env.HOSTINGER_ITEM_ID,
        payment_method_id: env.HOSTINGER_PAYMENT_METHOD_ID,
        setup,
        coupons: [],
      });
      return { providerRef: String(res.data.virtual_machine.id) };
    },
  };
}
