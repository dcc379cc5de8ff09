# Local services shared by scripts/dev.sh and scripts/test.sh. Source it; each function is idempotent.
# Everything lives under $OC_RUN (default /tmp/openclaw-run) so several checkouts do not collide with the
# machine's own PostgreSQL or Docker.
OC_RUN=${OC_RUN:-/tmp/openclaw-run}
PG_BIN=/usr/lib/postgresql/15/bin
mkdir -p "$OC_RUN"

have_local_postgres() { [ -x "$PG_BIN/postgres" ] && [ -f /usr/share/postgresql/15/extension/vector.control ]; }

# A private PostgreSQL 15 cluster with pgvector; creates database $1 (recreated when $2 = fresh).
start_postgres() {
  local db=$1 mode=${2:-keep} port=${OC_PGPORT:-24329} data="$OC_RUN/pg"
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data" && chown postgres:postgres "$data" "$OC_RUN"
    su postgres -s /bin/sh -c "$PG_BIN/initdb -D '$data' -U postgres --auth-local=trust --auth-host=trust -E UTF8 >/dev/null"
  fi
  if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    export OC_STARTED_PG=1 # so the caller stops only what it started
    su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D '$data' -w -l '$data/server.log' \
      -o '-p $port -k $OC_RUN -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200' start >/dev/null"
  fi
  local psql="$PG_BIN/psql -h 127.0.0.1 -p $port -U postgres -v ON_ERROR_STOP=1 -q"
  $psql -tc "SELECT 1 FROM pg_roles WHERE rolname='app'" | grep -q 1 || $psql -c "CREATE ROLE app LOGIN PASSWORD 'app'"
  if [ "$mode" = fresh ]; then $psql -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"; fi
  $psql -tc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 || $psql -c "CREATE DATABASE $db OWNER app"
  # pgvector 0.8 is not a trusted extension: the superuser creates it, the migration's IF NOT EXISTS is a no-op.
  $psql -d "$db" -c "CREATE EXTENSION IF NOT EXISTS vector"
  export DATABASE_URL="postgres://app:app@127.0.0.1:$port/$db"
}

stop_postgres() { su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D '$OC_RUN/pg' -m fast stop" >/dev/null 2>&1 || true; }

# Embedded fallback when no local PostgreSQL is installed: PGlite (PostgreSQL in wasm) with pgvector.
start_pglite() {
  local port=${OC_PGPORT:-24329}
  node_modules/.bin/pglite-server -p "$port" -m 20 -d "$OC_RUN/pglite" -e @electric-sql/pglite-pgvector:vector \
    >"$OC_RUN/pglite.log" 2>&1 &
  export OC_PGLITE_PID=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  export DATABASE_URL="postgres://postgres:pw@127.0.0.1:$port/postgres"
}

# A private Docker engine on its own socket and data root (an engine already named by DOCKER_HOST is used as is).
start_dockerd() {
  local sock="$OC_RUN/docker.sock"
  export DOCKER_HOST="${DOCKER_HOST:-unix://$sock}"
  if docker info >/dev/null 2>&1; then return 0; fi
  export DOCKER_HOST="unix://$sock"
  if docker info >/dev/null 2>&1; then return 0; fi
  command -v dockerd >/dev/null || { echo "dockerd not installed; skipping Docker" >&2; unset DOCKER_HOST; return 1; }
  # One bridge network per agent: Docker's default pools allow only ~31 networks, so hand out /28s instead
  # (4096 networks). Worker nodes need the same dockerd setting (node-agent README).
  setsid dockerd --host "$DOCKER_HOST" --data-root "$OC_RUN/docker-data" --exec-root "$OC_RUN/docker-exec" \
    --default-address-pool base=10.213.0.0/16,size=28 \
    --pidfile "$OC_RUN/dockerd.pid" >"$OC_RUN/dockerd.log" 2>&1 </dev/null &
  export OC_STARTED_DOCKERD=1
  for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "dockerd did not start; see $OC_RUN/dockerd.log" >&2; tail -20 "$OC_RUN/dockerd.log" >&2; return 1
}

# Stops the engine and waits for it (it stops its containers first).
stop_dockerd() {
  [ -f "$OC_RUN/dockerd.pid" ] || return 0
  local pid
  pid=$(cat "$OC_RUN/dockerd.pid")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
}
