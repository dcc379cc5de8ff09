#!/usr/bin/env bash
# Post-install script for a new worker VPS (Hostinger's post-install script, or run by hand as root on
# Debian/Ubuntu). It installs Docker, Node 24 and the node agent, registers the node with the edge using a
# one-time registration token, starts Traefik as a container and the node agent as a systemd service.
# The node gets no storage keys: state archives move through presigned URLs the edge hands out per archive.
# Every agent container is treated as hostile: dockerd remaps user namespaces, an egress firewall keeps
# containers off the host, metadata and private ranges, Traefik reads routes from files (no Docker socket in
# any container), and the node agent runs under a hardened systemd unit.
#
#   EDGE_URL=https://app.example.com REGISTRATION_TOKEN=ocn_... ACME_EMAIL=ops@example.com \
#     bash server-setup.sh                 # every step, in order
#     bash server-setup.sh register ...    # only the named steps (each is idempotent)
#
# ROOT prefixes every path it writes (tests run steps into a scratch dir), and SKIP_SERVICES=1 leaves
# systemd and the Docker daemon alone.
set -euo pipefail

ROOT=${ROOT:-}
SKIP_SERVICES=${SKIP_SERVICES:-0}
PREFIX="$ROOT/opt/openclaw-node"
CONF_DIR="$ROOT/etc/openclaw-node"
NODE_VERSION=${NODE_VERSION:-24.21.0}
NODE_DIST_URL=${NODE_DIST_URL:-https://nodejs.org/dist}
NODE_BIN=${NODE_BIN:-$PREFIX/node/bin/node}
TRAEFIK_IMAGE=${TRAEFIK_IMAGE:-traefik:v3.6}
# Docker's default pools allow ~31 bridge networks per host; every agent has its own, so hand out /28s.
ADDRESS_POOL=${ADDRESS_POOL:-10.213.0.0/16}
# Container uids map to this unprivileged host range (dockerd's "default" user: dockremap).
USERNS_REMAP=${USERNS_REMAP:-default}
# Ports on the host itself agent containers may reach (none on a worker node; a local edge in development).
EGRESS_HOST_PORTS=${EGRESS_HOST_PORTS:-}
ALL_STEPS=(packages docker_config swap node_runtime node_agent register egress traefik service)
# Compressed swap for dozing agents: SWAP_MB (default: half the RAM, uncompressed), zram unless SWAP_KIND=zswap
# (denser, slower to wake; ZSWAP_ALGO picks its compressor).
SWAP_KIND=${SWAP_KIND:-auto}

log() { printf '[server-setup] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
need() { [ -n "${!1:-}" ] || die "$1 is not set"; }

# fetch_checked DIR WHAT SUMS FILE...: the edge's /downloads/FILEs into DIR, checked against the SHA-256 list SUMS
# published beside them; a file that does not match stops the setup before anything is installed.
fetch_checked() {
  local dir=$1 what=$2 sums=$3 f
  shift 3
  curl -fsSL "$EDGE_URL/downloads/$sums" -o "$dir/$sums"
  for f in "$@"; do
    mkdir -p "$(dirname "$dir/$f")"
    curl -fsSL "$EDGE_URL/downloads/$f" -o "$dir/$f"
  done
  (cd "$dir" && sha256sum -c "$sums" >/dev/null) || die "$what checksum mismatch"
}

packages() {
  log "installing Docker and tools"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # python3: the node agent's bulk swap-in of a woken agent (node-agent/src/swap-in.ts) calls
  # process_madvise through its ctypes; without it a thaw faults pages back one at a time.
  apt-get install -y -q docker.io curl ca-certificates xz-utils python3
}

docker_config() {
  log "writing Docker's daemon.json (address pools, user-namespace remapping, no new privileges, log rotation)"
  mkdir -p "$ROOT/etc/docker"
  # userns-remap: root in a container is an unprivileged uid on the host. iptables stays on: Docker's own
  # rules isolate bridge networks, and the node agent's egress chains hook into its DOCKER-USER chain.
  cat >"$ROOT/etc/docker/daemon.json" <<JSON
{
  "default-address-pools": [{ "base": "$ADDRESS_POOL", "size": 28 }],
  "userns-remap": "$USERNS_REMAP",
  "no-new-privileges": true,
  "icc": false,
  "iptables": true,
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "3" },
  "live-restore": true
}
JSON
  if [ "$SKIP_SERVICES" != 1 ]; then systemctl enable docker && systemctl restart docker; fi
}

# Dozing agents are pushed out of RAM into compressed swap (node-agent/src/doze.ts): zram (a compressed block
# device in RAM), or where the kernel has no zram, a swap file on the VPS disk behind zswap (a compressed cache,
# so most pages never reach the disk). Sized from RAM; set up again at every boot by a oneshot unit, because
# neither survives a reboot. Without swap the node agent only freezes dozing agents (reported in its metrics).
swap() {
  local ram_mb size_mb kind=$SWAP_KIND
  ram_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo)
  size_mb=${SWAP_MB:-$((ram_mb / 2))}
  if [ "$kind" = auto ]; then
    if [ -e /sys/class/zram-control ] || modprobe -n zram 2>/dev/null; then kind=zram; else kind=zswap; fi
  fi
  log "configuring compressed swap ($kind, ${size_mb} MiB for ${ram_mb} MiB of RAM)"
  need EDGE_URL
  # The same functions the benchmarks and tests measure (scripts/lib), fetched from the edge and checked.
  local tmp
  tmp=$(mktemp -d)
  fetch_checked "$tmp" "swap scripts" lib.sha256 lib/exit-trap.sh lib/zram.sh lib/zswap.sh
  mkdir -p "$PREFIX/lib" "$ROOT/etc/systemd/system"
  install -m 0644 "$tmp"/lib/*.sh "$PREFIX/lib/"
  rm -rf "$tmp"
  # zram: its own device, named in a state file under /run (gone at reboot, as the device is). zswap: the
  # swap file next to its state on the disk, and zswap taken over even where the kernel turned it on.
  # zswap's compressor: ZSWAP_ALGO, else the densest the kernel's crypto API has. deflate held 326 MiB per
  # dozing agent where zram's lz4 held 440, but the answer after a doze took ~2x as long (decompression).
  cat >"$PREFIX/compressed-swap.sh" <<SH
#!/usr/bin/env bash
# Written by server-setup.sh: compressed swap for dozing agents ($kind, ${size_mb} MiB), at every boot.
set -euo pipefail
export ZRAM_STATE=\${ZRAM_STATE:-/run/openclaw-node/zram.dev} ZSWAP_STATE=\${ZSWAP_STATE:-/var/lib/openclaw/zswap.state}
export ZRAM_TRAP=0 ZSWAP_TRAP=0 ZSWAP_TAKEOVER=1 ZSWAP_ALGO=${ZSWAP_ALGO:-}
# shellcheck source=/dev/null
source "\$(dirname "\$0")/lib/$kind.sh"
${kind}_up $size_mb
SH
  chmod 0755 "$PREFIX/compressed-swap.sh"
  cat >"$ROOT/etc/systemd/system/openclaw-swap.service" <<UNIT
[Unit]
Description=Compressed swap for dozing OpenClaw agents
Before=openclaw-node.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/opt/openclaw-node/compressed-swap.sh

[Install]
WantedBy=multi-user.target
UNIT
  [ "$SKIP_SERVICES" = 1 ] && return 0
  systemctl daemon-reload
  systemctl enable --now openclaw-swap
}

node_runtime() {
  log "installing Node $NODE_VERSION"
  local arch tarball tmp
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) die "unsupported CPU $(uname -m)" ;; esac
  tarball="node-v$NODE_VERSION-linux-$arch.tar.xz"
  tmp=$(mktemp -d)
  curl -fsSL "$NODE_DIST_URL/v$NODE_VERSION/$tarball" -o "$tmp/$tarball"
  curl -fsSL "$NODE_DIST_URL/v$NODE_VERSION/SHASUMS256.txt" -o "$tmp/SHASUMS256.txt"
  (cd "$tmp" && grep " $tarball\$" SHASUMS256.txt | sha256sum -c -) || die "Node tarball checksum mismatch"
  rm -rf "$PREFIX/node" && mkdir -p "$PREFIX/node"
  tar -xJf "$tmp/$tarball" -C "$PREFIX/node" --strip-components=1
  rm -rf "$tmp"
}

node_agent() {
  need EDGE_URL
  log "installing the node agent from $EDGE_URL/downloads/node-agent.mjs"
  local tmp
  tmp=$(mktemp -d)
  fetch_checked "$tmp" "node agent" node-agent.mjs.sha256 node-agent.mjs
  mkdir -p "$PREFIX"
  install -m 0644 "$tmp/node-agent.mjs" "$PREFIX/node-agent.mjs"
  rm -rf "$tmp"
}

# Reads one field of a JSON object on stdin (Node is installed by now; no jq needed).
json_field() { "$NODE_BIN" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)[process.argv[1]];if(v===undefined)process.exit(1);console.log(v)})' "$1"; }

register() {
  need EDGE_URL
  if [ -f "$CONF_DIR/node.env" ] && grep -q '^NODE_ID=' "$CONF_DIR/node.env"; then
    log "already registered as $(grep '^NODE_ID=' "$CONF_DIR/node.env" | cut -d= -f2)"
    return 0
  fi
  need REGISTRATION_TOKEN
  local name ram body response status
  name=${NODE_NAME:-$(hostname)}
  ram=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo)
  body=$("$NODE_BIN" -e 'console.log(JSON.stringify({ token: process.argv[1], name: process.argv[2], ramTotalMb: Number(process.argv[3]) }))' "$REGISTRATION_TOKEN" "$name" "$ram")
  response=$(mktemp)
  status=$(curl -sS -o "$response" -w '%{http_code}' -X POST "$EDGE_URL/api/nodes/register" -H 'content-type: application/json' --data "$body")
  if [ "$status" != 201 ]; then
    log "the edge refused the registration (HTTP $status): $(cat "$response")"
    rm -f "$response"
    exit 1
  fi
  local node_id secret
  node_id=$(json_field nodeId <"$response")
  secret=$(json_field secret <"$response")
  rm -f "$response"
  mkdir -p "$CONF_DIR"
  (
    umask 077
    # With userns-remap, container uid N is host uid <dockremap's first subuid>+N (node-agent/src/safe-fs.ts).
    userns_offset=$(awk -F: '$1 == "dockremap" { print $2; exit }' "$ROOT/etc/subuid" 2>/dev/null || true)
    cat >"$CONF_DIR/node.env" <<ENV
EDGE_URL=$EDGE_URL
USERNS_UID_OFFSET=${userns_offset:-0}
NODE_ID=$node_id
NODE_SECRET=$secret
AGENT_STATE_ROOT=/var/lib/openclaw/agents
TRAEFIK_CONTAINER=traefik
TRAEFIK_DYNAMIC_DIR=/etc/traefik/dynamic
EGRESS_POLICY=on
EGRESS_HOST_PORTS=$EGRESS_HOST_PORTS
DOCKER_ADDRESS_POOL=$ADDRESS_POOL
ENV
  )
  log "registered as $node_id"
}

# The egress policy at boot, before dockerd starts any container: the node agent rebuilds the same chains
# (and attaches every agent network) each time it starts; this unit makes sure they exist even before that.
egress() {
  log "installing the egress firewall unit (agent containers: no host, metadata or private ranges)"
  mkdir -p "$ROOT/etc/systemd/system"
  cat >"$ROOT/etc/systemd/system/openclaw-egress.service" <<UNIT
[Unit]
Description=OpenClaw agent egress policy (iptables chains the node agent attaches agent networks to)
After=docker.service
Requires=docker.service
Before=openclaw-node.service

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=/etc/openclaw-node/node.env
ExecStart=/opt/openclaw-node/node/bin/node /opt/openclaw-node/node-agent.mjs egress-install

[Install]
WantedBy=multi-user.target
UNIT
  [ "$SKIP_SERVICES" = 1 ] && return 0
  systemctl daemon-reload
  systemctl enable --now openclaw-egress
}

traefik() {
  need ACME_EMAIL
  log "writing Traefik's static config (routes come from files the node agent writes; no Docker socket)"
  mkdir -p "$ROOT/etc/traefik/dynamic" "$ROOT/var/lib/traefik"
  "$NODE_BIN" "$PREFIX/node-agent.mjs" traefik-config "$ACME_EMAIL" >"$ROOT/etc/traefik/traefik.yml"
  [ "$SKIP_SERVICES" = 1 ] && return 0
  log "starting Traefik ($TRAEFIK_IMAGE)"
  docker rm -f traefik >/dev/null 2>&1 || true
  docker run -d --name traefik --restart unless-stopped -p 80:80 -p 443:443 \
    --read-only --cap-drop ALL --cap-add NET_BIND_SERVICE --security-opt no-new-privileges \
    -v /etc/traefik/traefik.yml:/etc/traefik/traefik.yml:ro \
    -v /etc/traefik/dynamic:/etc/traefik/dynamic:ro \
    -v /var/lib/traefik:/letsencrypt \
    "$TRAEFIK_IMAGE" >/dev/null
}

service() {
  log "installing the openclaw-node systemd service"
  mkdir -p "$ROOT/etc/systemd/system" "$ROOT/var/lib/openclaw/agents"
  cat >"$ROOT/etc/systemd/system/openclaw-node.service" <<UNIT
[Unit]
Description=OpenClaw node agent (dials the edge, runs agent containers)
After=network-online.target docker.service
Wants=network-online.target
Requires=docker.service

[Service]
EnvironmentFile=/etc/openclaw-node/node.env
ExecStart=/opt/openclaw-node/node/bin/node /opt/openclaw-node/node-agent.mjs
Restart=always
RestartSec=3
# SIGTERM lets the agent close its socket; containers keep running and are reconciled on reconnect.
KillSignal=SIGTERM
TimeoutStopSec=30
# Least privilege: the agent writes only agents' state dirs and Traefik's routes; it needs root's file
# ownership changes (chown into state dirs) and the firewall (iptables), nothing else.
ProtectSystem=strict
ReadWritePaths=/var/lib/openclaw /etc/traefik/dynamic -/run/xtables.lock
PrivateTmp=yes
NoNewPrivileges=yes
CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_NET_ADMIN CAP_NET_RAW
AmbientCapabilities=
ProtectHome=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictNamespaces=yes
RestrictRealtime=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
UMask=0077

[Install]
WantedBy=multi-user.target
UNIT
  [ "$SKIP_SERVICES" = 1 ] && return 0
  systemctl daemon-reload
  systemctl enable --now openclaw-node
}

main() {
  local steps=("$@")
  [ ${#steps[@]} -gt 0 ] || steps=("${ALL_STEPS[@]}")
  for step in "${steps[@]}"; do
    case " ${ALL_STEPS[*]} " in *" $step "*) "$step" ;; *) die "unknown step: $step (steps: ${ALL_STEPS[*]})" ;; esac
  done
  log "done: ${steps[*]}"
}

main "$@"
