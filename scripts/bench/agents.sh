#!/usr/bin/env bash
# Starts the private Docker engine (like the tests), builds the agent image if needed, runs the lifecycle benchmark.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/services.sh
start_dockerd
bash node-agent/image/build.sh
exec tsx scripts/bench/agents.ts
