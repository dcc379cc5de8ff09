#!/usr/bin/env bash
# Starts a private PostgreSQL (like the tests) and runs the proxy benchmark.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/services.sh
start_postgres "${BENCH_DB:-app_bench}" fresh
exec tsx scripts/bench/proxy.ts
