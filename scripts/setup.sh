#!/usr/bin/env bash
# Installs what building and testing roompeer needs on a Debian machine (run as root):
# C toolchain parts for the codec crates, tools for the network tests, the browsers, and the npm
# packages of the test signaling servers. `setup.sh build` installs only what the build needs.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

build_packages=(libclang-dev libpipewire-0.3-dev libasound2-dev libvpx-dev libwebrtc-audio-processing-dev cmake nasm pkg-config iproute2)
# pulseaudio: a sound server with null sinks, so the tests play and capture through real
# devices on a machine without a sound card.
# dpkg-dev (dpkg-shlibdeps) and desktop-file-utils: the Debian package's test; ffmpeg: reading
# the recordings back; xvfb: a virtual X screen to share.
test_packages=(openssl nftables coturn chromium firefox-esr fonts-wqy-microhei pulseaudio pulseaudio-utils libasound2-plugins dpkg-dev desktop-file-utils ffmpeg xvfb sway swaybg dbus-daemon pipewire-bin wireplumber xdg-desktop-portal xdg-desktop-portal-wlr)
packages=("${build_packages[@]}")
[ "${1:-}" = build ] || packages+=("${test_packages[@]}")

need_apt=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
[ "${1:-}" = build ] || command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # nasm matters: without it openh264 builds without assembly and encodes ~3x slower.
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

[ "${1:-}" = build ] && exit 0
# cargo-deb builds the Debian package (scripts/package.sh; its test installs it).
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "setup: installing cargo-deb (a few minutes' build)"
  cargo install cargo-deb --version 3.8.0 --locked --quiet
fi
if [ ! -d tests/servers/node_modules ] || [ tests/servers/package-lock.json -nt tests/servers/node_modules ]; then
  echo "setup: installing the test servers' npm packages"
  npm ci --prefix tests/servers --no-audit --no-fund --loglevel=error
fi
