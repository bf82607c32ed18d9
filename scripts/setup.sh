#!/usr/bin/env bash
# Installs what building and testing roompeer needs on a Debian machine (run as root):
# C toolchain parts for the codec crates, tools for the network tests, and the npm packages of
# the test signaling servers. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in libclang-dev libasound2-dev libvpx-dev cmake nasm pkg-config openssl iproute2 nftables coturn chromium firefox-esr; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # nasm matters: without it openh264 builds without assembly and encodes ~3x slower.
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -d tests/servers/node_modules ] || [ tests/servers/package-lock.json -nt tests/servers/node_modules ]; then
  echo "setup: installing the test servers' npm packages"
  npm ci --prefix tests/servers --no-audit --no-fund --loglevel=error
fi
