#!/usr/bin/env bash
# A working call with one command and nothing else installed: builds roompeer and starts two
# headless roompeers without a configured server. The first hosts the built-in room server
# (the seed's protocol) on 127.0.0.1:8080, the second finds it there and joins; they call each
# other for 10 seconds, then it prints what each saw.
# Runs in a private network namespace (only loopback) when it can (root). To call a browser
# instead, run `target/release/roompeer --headless --calls 1` and open the page it names.
set -euo pipefail
cd "$(dirname "$0")/.."
# ROOMPEER_BIN: a roompeer already built (the test suite's), so nothing is built here.
bin=${ROOMPEER_BIN:-}
if [ -z "$bin" ]; then
  scripts/setup.sh build
  # Cargo's progress only when there is something to build.
  cargo build --release --quiet
  bin=$PWD/target/release/roompeer
fi
work=$(mktemp -d)

run=()
ns=""
if [ "$(id -u)" = 0 ] && ip netns add "roompeer-demo-$$" 2>/dev/null; then
  ns="roompeer-demo-$$"
  ip -n "$ns" link set lo up
  run=(ip netns exec "$ns")
fi
cleanup() {
  [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT

# The first peer draws the live status line (when this is a terminal); the second is quiet.
# Both logs (warnings only; -v for more) and summaries go to files, shown at the end.
common=(--headless --room demo --duration "${DEMO_SECONDS:-10}" --calls 1)
echo "demo: two roompeers call each other for ${DEMO_SECONDS:-10} s (files in $work)"
echo "peer 1:"
"${run[@]}" "$bin" "${common[@]}" --id 1 --audio tone:440 --record "$work/rec-1" --report "$work/peer-1.json" &
first=$!
"${run[@]}" "$bin" "${common[@]}" --id 2 --audio tone:660 --quiet --record "$work/rec-2" --report "$work/peer-2.json" 2>"$work/peer-2.log" &
second=$!
status=0
wait "$first" || status=$?
wait "$second" || status=$?
echo "peer 2:"
sed -n '/^roompeer: outcome/,$p' "$work/peer-2.log"
echo "demo: reports (peer-N.json), SDP, candidates and recordings (rec-N/) are in $work"
exit "$status"
