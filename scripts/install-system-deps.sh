#!/usr/bin/env bash
# Installs the Debian packages the platform needs on a fresh machine of this kind (idempotent).
# - docker.io: real Docker engine for node-agent tests (started by scripts/dockerd.sh)
# - postgresql 15 + pgvector built from Debian trixie's source package (bookworm ships no pgvector)
# - busybox-static: a static rootfs for a tiny locally built test image (no registry is reachable)
# - debootstrap: the Debian rootfs of the OpenClaw agent image (node-agent/image/build.sh)
# - chromium: headless browser for end-to-end tests and the local Browserless stand-in
# - shellcheck: lints scripts/server-setup.sh (the worker VPS post-install script) in its test
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
command -v dockerd >/dev/null || need+=(docker.io)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql)
[ -f /usr/include/postgresql/15/server/postgres.h ] || need+=(postgresql-server-dev-15)
command -v dpkg-source >/dev/null || need+=(dpkg-dev)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -x /usr/bin/chromium ] || [ "${SKIP_CHROMIUM:-0}" = 1 ] || need+=(chromium)
command -v shellcheck >/dev/null || need+=(shellcheck)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# pgvector for PG 15: Debian only ships it for PG 17 (trixie), so build trixie's source package.
if [ ! -f /usr/share/postgresql/15/extension/vector.control ]; then
  src=/etc/apt/sources.list.d/trixie-src.sources
  cat >"$src" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get source -qq --download-only pgvector >/dev/null && tar xzf pgvector_*.orig.tar.gz \
    && cd pgvector-*/ && make -s -j2 PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config >/dev/null \
    && make -s install PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config >/dev/null)
  rm -rf "$tmp" "$src"
  apt-get update -qq || true
fi
echo "system deps ready"
