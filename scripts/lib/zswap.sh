# shellcheck shell=bash
# Compressed swap the other way worker nodes can have it (scripts/server-setup.sh, SWAP_KIND=zswap): a swap file
# on the disk behind zswap, the kernel's compressed cache, so that pages stay compressed in RAM and reach the disk
# only when the pool is full. zswap compresses through the kernel's crypto API, which can offer denser
# compressors (deflate) than zram's own backends; benchmarks compare the two.
# Source it, then `zswap_up [size_mb]` / `zswap_down`. zswap_up makes its own swap file, notes zswap's settings
# before it changes them and puts them back in zswap_down; it is idempotent and refuses when zswap is already on
# (a setting someone else made is never taken over, unless ZSWAP_TAKEOVER=1: a worker node's boot, see
# scripts/server-setup.sh).
# shellcheck source=scripts/lib/exit-trap.sh
source "$(dirname "${BASH_SOURCE[0]}")/exit-trap.sh"
ZSWAP_STATE=${ZSWAP_STATE:-${OC_RUN:-/tmp/openclaw-run}/zswap.state}
ZSWAP_PRIORITY=${ZSWAP_PRIORITY:-100}
ZSWAP_PARAMS=/sys/module/zswap/parameters

zswap_up() {
  local size_mb=${1:-} file algo p
  if [ -f "$ZSWAP_STATE" ] && grep -q "^$(head -1 "$ZSWAP_STATE") " /proc/swaps; then return 0; fi
  [ -w "$ZSWAP_PARAMS/enabled" ] || { echo "zswap: this kernel has no zswap ($ZSWAP_PARAMS)" >&2; return 1; }
  # A worker node's boot script owns the machine (ZSWAP_TAKEOVER=1); anywhere else zswap that is on is someone's.
  [ "$(cat "$ZSWAP_PARAMS/enabled")" = N ] || [ "${ZSWAP_TAKEOVER:-0}" = 1 ] || { echo "zswap: already enabled by someone else; not touching it" >&2; return 1; }
  [ -n "$size_mb" ] || size_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 / 2 }' /proc/meminfo)
  mkdir -p "$(dirname "$ZSWAP_STATE")"
  file="$ZSWAP_STATE.swapfile"
  # Line 1: the swap file; then each parameter as it was, to be written back by zswap_down.
  { echo "$file"; for p in enabled compressor max_pool_percent shrinker_enabled; do echo "$p=$(cat "$ZSWAP_PARAMS/$p")"; done; } >"$ZSWAP_STATE"
  rm -f "$file"
  fallocate -l "${size_mb}M" "$file" && chmod 600 "$file" && mkswap "$file" >/dev/null
  # ZSWAP_ALGO picks the compressor; otherwise the densest the kernel's crypto API has.
  for algo in ${ZSWAP_ALGO:-} zstd deflate lz4 lzo-rle lzo; do
    grep -q "^name *: $algo\$" /proc/crypto 2>/dev/null || modprobe -q "$algo" 2>/dev/null || continue
    echo "$algo" >"$ZSWAP_PARAMS/compressor" 2>/dev/null && break
  done
  # The pool may take a quarter of the RAM before it writes back to the disk; writeback under memory pressure
  # only (no proactive shrinking of a frozen agent's pages to disk, which would make its thaw read the disk).
  echo 25 >"$ZSWAP_PARAMS/max_pool_percent"
  echo N >"$ZSWAP_PARAMS/shrinker_enabled" 2>/dev/null || true
  echo Y >"$ZSWAP_PARAMS/enabled"
  swapon -p "$ZSWAP_PRIORITY" "$file"
  echo "zswap: $file (${size_mb} MiB, $(cat "$ZSWAP_PARAMS/compressor"), pool ≤ 25% of RAM, priority $ZSWAP_PRIORITY)" >&2
  if [ "${ZSWAP_TRAP:-1}" = 1 ]; then on_exit_also zswap_down; fi
}

zswap_down() {
  [ -f "$ZSWAP_STATE" ] || return 0
  local file line
  file=$(head -1 "$ZSWAP_STATE")
  [ "$file" = "$ZSWAP_STATE.swapfile" ] || { rm -f "$ZSWAP_STATE"; return 0; }
  if grep -q "^$file " /proc/swaps; then swapoff "$file" || { echo "zswap: swapoff $file failed" >&2; return 1; }; fi
  rm -f "$file"
  tail -n +2 "$ZSWAP_STATE" | while IFS= read -r line; do echo "${line#*=}" >"$ZSWAP_PARAMS/${line%%=*}" 2>/dev/null || true; done
  rm -f "$ZSWAP_STATE"
}
