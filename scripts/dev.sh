#!/usr/bin/env bash
# The one start command (README): installs what is missing and starts the whole platform locally on
# embedded defaults. No Neon, Stripe or API keys: PostgreSQL (the local server when installed, else PGlite),
# s3rver for S3, a DEV-ONLY LLM stand-in, real Docker when present. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export OC_RUN=${OC_RUN:-/tmp/openclaw-run}
mkdir -p "$OC_RUN"

# System packages (Docker, PostgreSQL + pgvector) when we may install them; everything works without.
if [ "$(id -u)" = 0 ] && [ "${OC_SKIP_SYSTEM:-0}" != 1 ]; then bash scripts/install-system-deps.sh || true; fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
export PATH="$PWD/node_modules/.bin:$PATH" # Node 24 and the project's tools

source scripts/lib/services.sh
pids=()
cleanup() { trap - EXIT INT TERM; for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if have_local_postgres && [ "${OC_DB:-}" != pglite ]; then start_postgres app_dev; db_kind="PostgreSQL 15 + pgvector"
else start_pglite; db_kind="PGlite (embedded) + pgvector"; fi
node scripts/migrate.mjs

setsid node scripts/dev/services.mjs >"$OC_RUN/dev-services.log" 2>&1 & pids+=($!)
docker_state="not available"
if start_dockerd 2>/dev/null; then docker_state="$DOCKER_HOST"; fi

if [ ! -f .dev.vars ]; then
  cat >.dev.vars <<VARS
# Written by scripts/dev.sh for local development only (see .env.example for every variable).
ENVIRONMENT=development
APP_URL=http://localhost:8787
DATABASE_URL=$DATABASE_URL
NEON_LOCAL_WSPROXY=127.0.0.1:54330
ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)
# DEV ONLY: the LLM upstream stand-in (scripts/dev/llm-stand-in.mjs); it is not a model.
OPENAI_API_KEY=dev-stand-in
OPENAI_BASE_URL=http://127.0.0.1:54350/v1
ANTHROPIC_API_KEY=dev-stand-in
ANTHROPIC_BASE_URL=http://127.0.0.1:54350
# DEV ONLY: the local Stripe stand-in (scripts/dev/stripe-stand-in.mjs); nothing is charged.
STRIPE_SECRET_KEY=sk_test_dev
STRIPE_WEBHOOK_SECRET=whsec_dev
STRIPE_API_BASE=http://127.0.0.1:54360
# DEV ONLY: the local Browserless stand-in (scripts/dev/browserless-stand-in.mjs, local Chromium).
BROWSERLESS_API_KEY=dev-browserless
BROWSERLESS_API_BASE=http://127.0.0.1:54355
# Agent containers reach this machine's edge through Docker's host-gateway alias.
AGENT_EDGE_URL=http://host.docker.internal:8787
VARS
fi
sed -i "s#^DATABASE_URL=.*#DATABASE_URL=$DATABASE_URL#" .dev.vars
# A .dev.vars from an older checkout may lack newer settings: add the dev defaults that are missing.
for kv in OPENAI_API_KEY=dev-stand-in OPENAI_BASE_URL=http://127.0.0.1:54350/v1 ANTHROPIC_API_KEY=dev-stand-in ANTHROPIC_BASE_URL=http://127.0.0.1:54350 \
  STRIPE_SECRET_KEY=sk_test_dev STRIPE_WEBHOOK_SECRET=whsec_dev STRIPE_API_BASE=http://127.0.0.1:54360 BROWSERLESS_API_KEY=dev-browserless BROWSERLESS_API_BASE=http://127.0.0.1:54355 AGENT_EDGE_URL=http://host.docker.internal:8787; do
  grep -q "^${kv%%=*}=" .dev.vars || echo "$kv" >>.dev.vars
done

(cd app && vite build >/dev/null 2>&1)
(cd app && setsid vite build --watch >"$OC_RUN/vite.log" 2>&1) & pids+=($!)
WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false setsid wrangler dev --port 8787 --ip 0.0.0.0 </dev/null >"$OC_RUN/wrangler.log" 2>&1 & pids+=($!)
for _ in $(seq 1 120); do curl -sf http://127.0.0.1:8787/api/health >/dev/null && break; sleep 0.5; done
curl -sf http://127.0.0.1:8787/api/health >/dev/null || { echo "edge did not start; see $OC_RUN/wrangler.log"; tail -30 "$OC_RUN/wrangler.log"; exit 1; }

eval "$(node scripts/dev/register-node.mjs)"
EDGE_URL=http://127.0.0.1:8787 NODE_ID=$NODE_ID NODE_SECRET=$NODE_SECRET AGENT_STATE_ROOT="$OC_RUN/agents" \
  S3_ENDPOINT=http://127.0.0.1:54340 S3_ACCESS_KEY_ID=S3RVER S3_SECRET_ACCESS_KEY=S3RVER setsid tsx node-agent/src/main.ts >"$OC_RUN/node-agent.log" 2>&1 & pids+=($!)

cat <<MSG

  OpenClaw Cloud is running locally (development)
  ───────────────────────────────────────────────
  Dashboard + site   http://localhost:8787
  API + OpenAPI      http://localhost:8787/api/openapi.json
  Mail outbox        http://localhost:8787/outbox   (no RESEND_API_KEY: mails are kept, not sent)
  Database           $db_kind  ($DATABASE_URL)
  S3 (s3rver)        http://127.0.0.1:54340  bucket openclaw-state
  LLM proxy          http://localhost:8787/v1  (key: POST /api/agent/proxy-key; test balance: POST /api/dev/credit)
  LLM upstream       http://127.0.0.1:54350/v1  DEV-ONLY stand-in, not a model
  Stripe             http://127.0.0.1:54360  DEV-ONLY stand-in (Checkout has a "Pay (test card)" button; nothing is charged)
  Browserless        http://127.0.0.1:54355  DEV-ONLY stand-in (local Chromium; the Browser Agent Viewer uses it)
  Docker             $docker_state
  Node agent         $NODE_ID  (log: $OC_RUN/node-agent.log)
  Logs               $OC_RUN/*.log

  Ctrl-C stops everything.
MSG
wait
