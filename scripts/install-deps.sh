#!/usr/bin/env bash
# Debian packages the kernel test suite needs (see test/harness/).
# Idempotent and fast: when every package is already installed this only runs
# `dpkg -s`; apt-get update/install run only when something is missing.
# Never fails the build: if we cannot install (not root, no apt), it says why
# and continues; the kernel suite then reports that it cannot run and why
# (a failure under CI=true, a loud skip otherwise).
set -uo pipefail

PACKAGES=(user-mode-linux busybox-static kmod ipvsadm iproute2 iptables erlang-base dnsutils)

missing=()
for p in "${PACKAGES[@]}"; do
  # `dpkg -s` exits 0 for removed-but-configured packages too; check the status line.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "==> system packages: all present (${PACKAGES[*]})"
  exit 0
fi

echo "==> system packages missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "!!! not root: cannot install them. Run as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "!!! continuing; the kernel test suite will report that it cannot run." >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "!!! apt-get not found (not a Debian-like system): install the equivalents of: ${missing[*]}" >&2
  echo "!!! continuing; the kernel test suite will report that it cannot run." >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
echo "==> apt-get update"
if ! apt-get update -q >/dev/null; then
  echo "!!! apt-get update failed; trying to install from the existing package lists" >&2
fi
echo "==> apt-get install ${missing[*]}"
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  echo "!!! apt-get install failed for: ${missing[*]}" >&2
  echo "!!! continuing; the kernel test suite will report that it cannot run." >&2
  exit 0
fi
echo "==> system packages installed: ${missing[*]}"
