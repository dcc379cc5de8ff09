#!/usr/bin/env bash
# The one test command (README; .ci/run calls exactly this). On a fresh machine it installs what it needs,
# starts a real PostgreSQL 15 + pgvector and a real Docker engine, builds the app, type-checks, and runs
# every suite: edge + Durable Objects inside workerd, node agent against Docker, browser journeys in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

bash scripts/install-system-deps.sh
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

# The pinned OpenClaw package (node-agent/image) validates generated configs; install it with Node 24.
# `npm install`, not `npm ci`: the channel plugins bundle their dependencies, which npm ci reports as missing.
img=node-agent/image
if [ ! -f $img/node_modules/.package-lock.json ] || [ $img/package-lock.json -nt $img/node_modules/.package-lock.json ]; then
  (cd $img && PATH="$PWD/../../node_modules/.bin:$PATH" npm install --no-audit --no-fund --loglevel=error)
fi

source scripts/lib/services.sh
source scripts/lib/zram.sh
# The run leaves the machine as it found it: what it started here is stopped again at the end.
unset OC_STARTED_PG OC_STARTED_DOCKERD
cleanup() {
  local bg
  bg=$(jobs -p)
  [ -z "$bg" ] || { kill $bg 2>/dev/null || true; wait $bg 2>/dev/null || true; } # an interrupted run leaves no suite running
  [ "${OC_STARTED_DOCKERD:-0}" = 1 ] && stop_dockerd
  [ "${OC_STARTED_PG:-0}" = 1 ] && stop_postgres
  zram_down # only the device zram_up made, once the agents that used it are gone
  [ -z "${run_tmp:-}" ] || rm -rf "$run_tmp"
  return 0
}
trap cleanup EXIT
start_postgres app_test fresh
start_dockerd
# Compressed swap as worker nodes have it (scripts/server-setup.sh), so dozing agents really give memory back.
ZRAM_TRAP=0 zram_up || echo "no zram: dozes fall back to a plain freeze" >&2
reports="$OC_RUN/reports"
rm -rf "$reports" && mkdir -p "$reports"
# Every temporary file and folder of this run (the suites' state dirs, fake S3 buckets, browser profiles, the
# image's build root) goes under one folder that the cleanup removes; the services above keep their own places.
# It is open to every user, as /tmp is: the dev start's initdb runs as the postgres user beneath it.
run_tmp=$(mktemp -d /tmp/oc-test-run.XXXXXX)
chmod 1777 "$run_tmp"
export TMPDIR="$run_tmp"

# The OpenClaw agent image, built locally (debootstrap + Node 24 + pinned openclaw; ~5 min on a fresh 2-core
# machine, mostly waiting on downloads and disk), beside the app build and the type-check, which need
# neither Docker nor the image.
bash node-agent/image/build.sh >"$reports/image-build.log" 2>&1 &
image_pid=$!
npm run --silent build:app >/dev/null
npm run --silent typecheck

status=0
# The edge suite (workerd + PostgreSQL) needs neither Docker nor the image either: it starts while the image is
# still building. The node agent's tests need the image and mostly wait on the Docker engine: they start once it
# is there and run beside the rest of the edge suite. Each suite's output is printed once both are done.
npm run --silent test:edge -- --reporter=default --reporter=json --outputFile.json="$reports/edge.json" >"$reports/edge.log" 2>&1 &
edge_pid=$!
if ! wait $image_pid; then cat "$reports/image-build.log" >&2; echo "the agent image did not build" >&2; exit 1; fi
cat "$reports/image-build.log"
npm run --silent test:node -- --reporter=default --reporter=json --outputFile.json="$reports/node.json" >"$reports/node.log" 2>&1 &
node_pid=$!
wait $edge_pid || status=1
wait $node_pid || status=1
cat "$reports/edge.log" "$reports/node.log"

SCREENSHOT_DIR="$OC_RUN/screenshots" npm run --silent test:e2e -- --reporter=default --reporter=json --outputFile.json="$reports/e2e.json" || status=1
echo "page screenshots for review: $OC_RUN/screenshots"

node scripts/lib/summarize-tests.mjs "$reports"/{edge,node,e2e}.json || status=1
echo "total time: $(( $(date +%s) - started ))s"
exit $status
