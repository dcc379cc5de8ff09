/**
 * The agent image every node runs: the edge names it in each agent's spec, node-agent/image/build.sh builds
 * it under this tag, and the dev stack, benchmarks and image tests use it. The revision after the OpenClaw
 * version goes up with every change to the image, so a node never mistakes an old build for the new one.
 */
export const AGENT_IMAGE = "openclaw-agent:2026.9.6-r13";
