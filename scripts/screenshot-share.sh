#!/usr/bin/env bash
# Takes the README's screenshot of a shared screen received in the window: a virtual desktop
# (Xvfb :98) shows a roompeer window; a headless roompeer hosts the room server and shares that
# desktop (`--video screen`); the window on a second Xvfb (:97) joins and shows it. Everything
# talks inside a private network namespace with only loopback (root); X clients in it reach
# the Xvfb servers through their socket files.
# Needs: xvfb xauth libgl1-mesa-dri imagemagick (apt). Usage: scripts/screenshot-share.sh [OUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-assets/screenshot-share.png}
bin=$PWD/target/release/roompeer
ns="roompeer-share-$$"
ip netns add "$ns"
ip -n "$ns" link set lo up
Xvfb :98 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
desk=$!
cleanup() {
  ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  kill "$desk" 2>/dev/null || true
  sleep 0.5
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
sleep 1
# Something to share: a roompeer window on the desktop, not in a call.
ip netns exec "$ns" env DISPLAY=:98 ROOMPEER_CONFIG_DIR="$(mktemp -d)" \
  "$bin" --room "quarterly review" --video testsrc --audio tone:440 --audio-out none >/dev/null 2>&1 &
sleep 2
ip netns exec "$ns" env DISPLAY=:98 "$bin" --headless --room shot --listen 127.0.0.1:8080 \
  --video screen --duration 30 --calls 1 --id 1 >/dev/null 2>&1 &
sleep 1
ip netns exec "$ns" env ROOMPEER_CONFIG_DIR="$(mktemp -d)" xvfb-run -n 97 -s "-screen 0 1240x980x24" \
  "$bin" --server http://127.0.0.1:8080 --room shot --connect --id 2 --video testsrc --audio tone:660 --audio-out none >/dev/null 2>&1 &
# Long enough for the call to connect and the shared screen to play.
sleep 10
ip netns exec "$ns" env DISPLAY=:97 XAUTHORITY="$(ls -t /tmp/xvfb-run.*/Xauthority | head -1)" import -window root "$out"
echo "screenshot: $out"
