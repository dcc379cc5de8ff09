#!/usr/bin/env bash
# The one start command (README): installs what is missing and starts the whole platform locally on
# embedded defaults. No Neon, Stripe or API keys: PostgreSQL (the local server when installed, else PGlite),
# s3rver for S3, a DEV-ONLY LLM stand-in, the real Docker engine and the OpenClaw agent image (built here the
# first time). The banner says "ready" only when a paying customer would really get a running agent.
# Ctrl-C (or any stop) ends everything this script started, and nothing else.
#
# Private ports and run dir (the test that runs this command uses them): OC_RUN (run dir), OC_DEV_PORT (edge,
# 8787), OC_DEV_PORT_BASE (stand-ins, 24330…24360), OC_PGPORT (PostgreSQL, 24329), DOCKER_HOST (an engine that
# already runs is used as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
export OC_RUN=${OC_RUN:-/tmp/openclaw-run}
export OC_DEV_PORT=${OC_DEV_PORT:-8787} OC_DEV_PORT_BASE=${OC_DEV_PORT_BASE:-24330}
mkdir -p "$OC_RUN"
port=$OC_DEV_PORT
app_url="http://localhost:$port"
started_at=$(date +%s)
say() { printf '[dev %3ss] %s\n' "$(($(date +%s) - started_at))" "$*"; }

pids=()
cleanup() {
  trap - EXIT INT TERM
  say "stopping…"
  # Agents this platform's node started: stopped cleanly (a killed gateway leaves an owner lease behind),
  # kept on disk so the next start wakes them where they were.
  if [ "${dev_node_started:-0}" = 1 ]; then
    for c in $(docker ps -q --filter label=openclaw.managed=true 2>/dev/null); do
      if docker inspect --format '{{range .Mounts}}{{.Source}} {{end}}' "$c" 2>/dev/null | grep -q "$OC_RUN/agents"; then
        docker stop -t 10 "$c" >/dev/null 2>&1 || true
      fi
    done
  fi
  # Each background service leads its own process group (setsid): the group goes, children included.
  for p in "${pids[@]}"; do kill -TERM -- -"$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 -- -"$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.2
  done
  for p in "${pids[@]}"; do kill -KILL -- -"$p" 2>/dev/null || true; done
  [ "${OC_STARTED_DOCKERD:-0}" = 1 ] && stop_dockerd
  [ "${OC_STARTED_PG:-0}" = 1 ] && stop_postgres
  [ -n "${OC_PGLITE_PID:-}" ] && kill "$OC_PGLITE_PID" 2>/dev/null
  say "stopped"
}
trap cleanup EXIT
# Whoever reads our output may be gone (a closed terminal, a finished test): stopping must still finish.
trap '' PIPE
trap 'exit 130' INT
trap 'exit 143' TERM
# Runs "$@" in the background as the leader of a new process group, logging to $OC_RUN/<name>.log.
background() {
  local name=$1
  shift
  setsid "$@" >"$OC_RUN/$name.log" 2>&1 </dev/null &
  pids+=($!)
}

# ── install ──────────────────────────────────────────────────────────────────────────────────────────
if [ "$(id -u)" = 0 ] && [ "${OC_SKIP_SYSTEM:-0}" != 1 ]; then
  say "system packages (Docker, PostgreSQL + pgvector, Chromium)…"
  bash scripts/install-system-deps.sh || say "could not install system packages; going on with what is here"
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm packages…"
  npm ci --no-audit --no-fund --loglevel=error
fi
export PATH="$PWD/node_modules/.bin:$PATH" # Node 24 and the project's tools
img=node-agent/image
if [ ! -f $img/node_modules/.package-lock.json ] || [ $img/package-lock.json -nt $img/node_modules/.package-lock.json ]; then
  say "the pinned OpenClaw package (agent image, config validation)…"
  # `npm install`, not `npm ci`: the channel plugins bundle their dependencies, which npm ci reports as missing.
  (cd $img && npm install --no-audit --no-fund --loglevel=error)
fi

# ── services ─────────────────────────────────────────────────────────────────────────────────────────
# What this run starts is recorded by services.sh; a caller's own records must not leak in.
unset OC_STARTED_PG OC_STARTED_DOCKERD OC_PGLITE_PID
source scripts/lib/services.sh
if have_local_postgres && [ "${OC_DB:-}" != pglite ]; then start_postgres app_dev; db_kind="PostgreSQL 15 + pgvector"
else start_pglite; db_kind="PGlite (embedded) + pgvector"; fi
# The stand-ins' ports, from the one port table the tests use too (DEV_PORT_LLM, DEV_PORT_STRIPE, …).
eval "$(OC_PRINT_PORTS=dev node test-harness/ports.ts)"
node scripts/migrate.ts
background dev-services node scripts/dev/services.ts

docker_state="not available"
agents_blocker=""
if start_dockerd 2>"$OC_RUN/dockerd-start.err"; then
  docker_state="$DOCKER_HOST"
  image=$(sh node-agent/image/tag.sh)
  if docker image inspect "$image" >/dev/null 2>&1; then say "agent image $image present"
  else
    say "building the agent image $image (first start only; about 3 minutes)…"
    if ! bash node-agent/image/build.sh 2>&1 | sed -u 's/^/        /'; then agents_blocker="the agent image could not be built (see above)"; fi
  fi
else
  agents_blocker="Docker cannot run here ($(tail -1 "$OC_RUN/dockerd-start.err" 2>/dev/null || echo "dockerd did not start"))"
fi

# ── edge ─────────────────────────────────────────────────────────────────────────────────────────────
# Development settings live in the run dir, not the repository; the encryption key is made once and kept, so
# what was sealed stays readable across restarts.
vars="$OC_RUN/dev.vars"
# Older checkouts wrote their settings to .dev.vars here; wrangler would still read that file, so it goes.
if [ -f .dev.vars ] && head -1 .dev.vars | grep -q "Written by scripts/dev.sh"; then rm .dev.vars; fi
key_file="$OC_RUN/encryption.key"
[ -f "$key_file" ] || head -c 32 /dev/urandom | base64 >"$key_file"
cat >"$vars" <<VARS
# Written by scripts/dev.sh for local development only (see .env.example for every variable).
ENVIRONMENT=development
# Dev routes (mail outbox, test credit) and the stand-in overrides below exist only with this (edge/src/env.ts).
DEV_MODE=local
APP_URL=$app_url
DATABASE_URL=$DATABASE_URL
NEON_LOCAL_WSPROXY=127.0.0.1:$DEV_PORT_BRIDGE
ENCRYPTION_KEY=$(cat "$key_file")
# DEV ONLY: the LLM upstream stand-in (test-harness/stand-ins/llm.ts); it is not a model. To use real models,
# put OPENAI_API_KEY / ANTHROPIC_API_KEY in .dev.vars.local (no base URLs: the official endpoints are used).
OPENAI_API_KEY=dev-stand-in
OPENAI_BASE_URL=http://127.0.0.1:$DEV_PORT_LLM/v1
ANTHROPIC_API_KEY=dev-stand-in
ANTHROPIC_BASE_URL=http://127.0.0.1:$DEV_PORT_LLM
# DEV ONLY: the local Stripe stand-in (test-harness/stand-ins/stripe.ts); nothing is charged.
STRIPE_SECRET_KEY=sk_test_dev
STRIPE_WEBHOOK_SECRET=whsec_dev
STRIPE_API_BASE=http://127.0.0.1:$DEV_PORT_STRIPE
# DEV ONLY: the local Browserless stand-in (test-harness/stand-ins/browserless.ts, local Chromium).
BROWSERLESS_API_KEY=dev-browserless
BROWSERLESS_API_BASE=http://127.0.0.1:$DEV_PORT_BROWSERLESS
# Agent containers reach this machine's edge through Docker's host-gateway alias.
AGENT_EDGE_URL=http://host.docker.internal:$port
VARS
env_files=(--env-file "$vars")
if [ -f .dev.vars.local ]; then
  # Real provider keys replace the stand-in: its base URLs go, so the official endpoints are used.
  for k in $(grep -oE '^(OPENAI|ANTHROPIC)_API_KEY' .dev.vars.local); do sed -i "/^${k%_API_KEY}_BASE_URL=/d" "$vars"; done
  env_files+=(--env-file .dev.vars.local)
  say "using your settings from .dev.vars.local"
fi

# One app build that the Worker and the browser share; rebuilt on source edits only (never on its own output).
worker_js=app/.svelte-kit/cloudflare/_worker.js
if [ ! -f "$worker_js" ] || [ -n "$(find app/src contracts/src app/svelte.config.js app/vite.config.ts package-lock.json -newer "$worker_js" -print -quit)" ]; then
  say "building the dashboard and site…"
  bash scripts/build-node-agent.sh
  (cd app && vite build --logLevel error)
elif [ ! -f app/static/downloads/node-agent.mjs ]; then bash scripts/build-node-agent.sh
fi
background app-watch node scripts/dev/app-watch.mjs
say "starting the edge (Worker + Durable Objects + dashboard) on $app_url…"
WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false background wrangler \
  wrangler dev --port "$port" --ip 0.0.0.0 --persist-to "$OC_RUN/wrangler-state" "${env_files[@]}"
for _ in $(seq 1 240); do curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$port/api/health" >/dev/null || { say "the edge did not start; see $OC_RUN/wrangler.log"; tail -30 "$OC_RUN/wrangler.log"; exit 1; }

# ── this machine as a worker node ────────────────────────────────────────────────────────────────────
eval "$(node scripts/dev/register-node.mjs)"
EDGE_URL=http://127.0.0.1:$port NODE_ID=$NODE_ID NODE_SECRET=$NODE_SECRET AGENT_STATE_ROOT="$OC_RUN/agents" \
  S3_ENDPOINT=http://127.0.0.1:$DEV_PORT_S3 S3_ACCESS_KEY_ID=S3RVER S3_SECRET_ACCESS_KEY=S3RVER background node-agent tsx node-agent/src/main.ts
dev_node_started=1
if [ -z "$agents_blocker" ]; then
  for _ in $(seq 1 120); do grep -q "connected to the edge" "$OC_RUN/node-agent.log" && break; sleep 0.5; done
  grep -q "connected to the edge" "$OC_RUN/node-agent.log" || agents_blocker="the node agent did not connect to the edge (see $OC_RUN/node-agent.log)"
fi

if [ -z "$agents_blocker" ]; then
  headline="OpenClaw Cloud is ready (development) after $(($(date +%s) - started_at)) s"
  agents="Sign up, confirm the mail from the outbox, choose a plan and pay with the test card: your agent starts here."
else
  headline="OpenClaw Cloud is running WITHOUT AGENTS (development)"
  agents="Agents cannot start: $agents_blocker.
  What still works: the site, sign-up and sign-in, billing with the test card, every dashboard page, and the
  metering LLM proxy at $app_url/v1 with a key from the dashboard. Paid agents stay queued until a node runs."
fi
cat <<MSG

  $headline
  ───────────────────────────────────────────────────────────────────
  Dashboard + site   $app_url
  Agents             $agents
  API + OpenAPI      $app_url/api/openapi.json
  Mail outbox        $app_url/outbox   (no RESEND_API_KEY: mails are kept, not sent)
  Database           $db_kind  ($DATABASE_URL)
  S3 (s3rver)        http://127.0.0.1:$DEV_PORT_S3  bucket openclaw-state
  LLM upstream       http://127.0.0.1:$DEV_PORT_LLM/v1  DEV-ONLY stand-in, not a model: it echoes what you write
                     (real models: OPENAI_API_KEY / ANTHROPIC_API_KEY in .dev.vars.local, then restart)
  Stripe             http://127.0.0.1:$DEV_PORT_STRIPE  DEV-ONLY stand-in ("Pay (test card)"; nothing is charged)
  Browserless        http://127.0.0.1:$DEV_PORT_BROWSERLESS  DEV-ONLY stand-in (local Chromium)
  Docker             $docker_state
  Node agent         $NODE_ID  (log: $OC_RUN/node-agent.log)
  Logs               $OC_RUN/*.log

  Ctrl-C stops everything.
MSG
# Stop as soon as any part stops: a half-running platform would only mislead.
set +e
wait -n "${pids[@]}"
say "a service stopped (see the logs in $OC_RUN); stopping the rest"
exit 1
