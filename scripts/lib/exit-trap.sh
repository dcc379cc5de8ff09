# shellcheck shell=bash
# on_exit_also CMD: runs CMD when the shell exits, before whatever EXIT trap was already set (which still runs).
on_exit_also() {
  local prev
  prev=$(trap -p EXIT | sed "s/^trap -- '\(.*\)' EXIT\$/\1/")
  # shellcheck disable=SC2064
  trap "$1; $prev" EXIT
}
