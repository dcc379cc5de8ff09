#!/usr/bin/env bash
# Bundles the node agent into one file that needs only Node 24 on a worker VPS. It is published with the
# app's static assets at /downloads/node-agent.mjs (plus .sha256), where scripts/server-setup.sh fetches it;
# the setup script itself is published at /downloads/server-setup.sh, and the swap functions it installs
# at /downloads/lib/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=app/static/downloads
mkdir -p "$out"
# ssh2 (via docker-modem) has optional native add-ons; the pure-JS fallbacks are used without them.
esbuild node-agent/src/main.ts --bundle --platform=node --format=esm --target=node24 --minify-syntax --log-level=warning \
  --external:cpu-features --loader:.node=empty --outfile="$out/node-agent.mjs" \
  --banner:js="import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = import.meta.dirname;"
# New VPSs fetch the setup script from the edge too (the autoscaler's post-install bootstrap does).
cp scripts/server-setup.sh "$out/server-setup.sh"
(cd "$out" && sha256sum node-agent.mjs >node-agent.mjs.sha256)
# The compressed-swap functions the setup script installs on a node (the same files the benchmarks use).
mkdir -p "$out/lib"
cp scripts/lib/exit-trap.sh scripts/lib/zram.sh scripts/lib/zswap.sh "$out/lib/"
(cd "$out" && sha256sum lib/exit-trap.sh lib/zram.sh lib/zswap.sh >lib.sha256)
