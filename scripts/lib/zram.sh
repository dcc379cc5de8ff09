# shellcheck shell=bash
# Compressed swap in RAM (zram) for dozing agents, the same way scripts/server-setup.sh sets it up on a node.
# Source it, then `zram_up [size_mb]` / `zram_down`. zram_up adds its own zram device (hot_add, so a device
# someone else configured is never touched), sized from RAM unless given, with lz4 where the kernel has it,
# at a high swap priority; it is idempotent (a second call reuses the device) and removes it again when the
# calling shell exits. zram_down only ever turns off and removes the device this state file names.
# shellcheck source=scripts/lib/exit-trap.sh
source "$(dirname "${BASH_SOURCE[0]}")/exit-trap.sh"
ZRAM_STATE=${ZRAM_STATE:-${OC_RUN:-/tmp/openclaw-run}/zram.dev}
ZRAM_PRIORITY=${ZRAM_PRIORITY:-100}

zram_up() {
  local size_mb=${1:-} dev algo
  if [ -f "$ZRAM_STATE" ] && grep -q "^/dev/$(cat "$ZRAM_STATE") " /proc/swaps; then return 0; fi
  [ -w /sys/class/zram-control/hot_add ] || modprobe zram num_devices=0 2>/dev/null || true
  [ -w /sys/class/zram-control/hot_add ] || { echo "zram: this kernel has no zram (no /sys/class/zram-control)" >&2; return 1; }
  # Half the RAM as the swap device's (uncompressed) size: at ~3x compression that is ~1/6 of RAM at most.
  [ -n "$size_mb" ] || size_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 / 2 }' /proc/meminfo)
  dev=zram$(cat /sys/class/zram-control/hot_add)
  mkdir -p "$(dirname "$ZRAM_STATE")"
  echo "$dev" >"$ZRAM_STATE"
  # ZRAM_ALGO picks the compressor (benchmarks compare them); otherwise lz4 where the kernel has it.
  for algo in ${ZRAM_ALGO:-} lz4 lzo-rle lzo; do grep -qw -- "$algo" "/sys/block/$dev/comp_algorithm" && { echo "$algo" >"/sys/block/$dev/comp_algorithm"; break; }; done
  echo "${size_mb}M" >"/sys/block/$dev/disksize"
  for _ in $(seq 1 50); do [ -b "/dev/$dev" ] && break; sleep 0.1; done
  mkswap "/dev/$dev" >/dev/null
  swapon -p "$ZRAM_PRIORITY" "/dev/$dev"
  echo "zram: /dev/$dev (${size_mb} MiB, $(grep -o '\[[^]]*\]' "/sys/block/$dev/comp_algorithm" | tr -d '[]'), priority $ZRAM_PRIORITY)" >&2
  if [ "${ZRAM_TRAP:-1}" = 1 ]; then on_exit_also zram_down; fi
}

zram_down() {
  [ -f "$ZRAM_STATE" ] || return 0
  local dev
  dev=$(cat "$ZRAM_STATE")
  case "$dev" in zram[0-9]*) ;; *) rm -f "$ZRAM_STATE"; return 0 ;; esac
  if grep -q "^/dev/$dev " /proc/swaps; then swapoff "/dev/$dev" || { echo "zram: swapoff /dev/$dev failed" >&2; return 1; }; fi
  [ -e "/sys/block/$dev/reset" ] && echo 1 >"/sys/block/$dev/reset" 2>/dev/null
  [ -e "/sys/block/$dev" ] && echo "${dev#zram}" >/sys/class/zram-control/hot_remove 2>/dev/null
  rm -f "$ZRAM_STATE"
}
