#!/usr/bin/env bash
# Takes the README's screenshot of the window during a call: a headless roompeer hosts the
# built-in room server, the window joins it under Xvfb (Mesa's software OpenGL), and ImageMagick
# grabs the screen. Everything runs in a private network namespace with only loopback (root).
# Needs: xvfb xauth libgl1-mesa-dri imagemagick (apt). Usage: scripts/screenshot.sh [OUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-assets/screenshot-call.png}
bin=$PWD/target/release/roompeer
ns="roompeer-shot-$$"
ip netns add "$ns"
ip -n "$ns" link set lo up
cleanup() { ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true; sleep 0.5; ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
ip netns exec "$ns" "$bin" --headless --room shot --listen 127.0.0.1:8080 --duration 30 --calls 1 --id 1 >/dev/null 2>&1 &
sleep 1
ip netns exec "$ns" env ROOMPEER_CONFIG_DIR="$(mktemp -d)" xvfb-run -n 97 -s "-screen 0 1240x980x24" \
  "$bin" --server http://127.0.0.1:8080 --room shot --connect --id 2 --video testsrc --audio tone:660 --audio-out none >/dev/null 2>&1 &
# Long enough for the call to connect and a few seconds of video to play.
sleep 10
ip netns exec "$ns" env DISPLAY=:97 XAUTHORITY="$(ls -t /tmp/xvfb-run.*/Xauthority | head -1)" import -window root "$out"
echo "screenshot: $out"
