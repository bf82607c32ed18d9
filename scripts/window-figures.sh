#!/usr/bin/env bash
# Measures the window during a 640x480 call with a headless roompeer, under Xvfb (Mesa's
# software OpenGL) in a private network namespace with only loopback (root): the time from
# Connect to the first remote picture on screen and the time to build a frame (the window's own
# log), and the window process's CPU time and peak RSS over SECS seconds (/proc).
# Needs: xvfb xauth libgl1-mesa-dri (apt). Usage: scripts/window-figures.sh [SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
bin=$PWD/target/release/roompeer
ns="roompeer-fig-$$"
log=$(mktemp)
ip netns add "$ns"
ip -n "$ns" link set lo up
cleanup() { ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true; sleep 0.5; ip netns del "$ns" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT
ip netns exec "$ns" "$bin" --headless --room fig --listen 127.0.0.1:8080 --calls 1 --id 1 >/dev/null 2>&1 &
sleep 1
ip netns exec "$ns" env ROOMPEER_CONFIG_DIR="$(mktemp -d)" xvfb-run -n 96 -s "-screen 0 1240x980x24" \
  "$bin" --server http://127.0.0.1:8080 --room fig --connect --id 2 \
  --video testsrc --audio tone:660 --audio-out none >/dev/null 2>"$log" &
sleep 2
pid=$(pgrep -f -- "--room fig --connect" | grep -v xvfb | tail -1)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
start=$(ticks)
sleep "$secs"
end=$(ticks)
hz=$(getconf CLK_TCK)
awk -v a="$start" -v b="$end" -v hz="$hz" -v s="$secs" 'BEGIN { printf "window CPU: %.1f s in %d s\n", (b - a) / hz, s }'
echo "window peak RSS: $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' "/proc/$pid/status")"
grep -E "first remote picture|window: " "$log" | sed 's/^.*INFO //' | head -5
