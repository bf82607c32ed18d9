#!/usr/bin/env bash
# A working call with one command and nothing else installed: builds roompeer and starts two
# headless roompeers without a configured server. The first hosts the built-in room server
# (the seed's protocol) on 127.0.0.1:8080, the second finds it there and joins; they call each
# other for 10 seconds, then it prints what each saw.
# Runs in a private network namespace (only loopback) when it can (root). To call a browser
# instead, run `target/release/roompeer --headless --calls 1` and open the page it names.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
cargo build --release
bin=$PWD/target/release/roompeer
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

common=(--headless --room demo --duration "${DEMO_SECONDS:-10}" --calls 1)
"${run[@]}" "$bin" "${common[@]}" --id 1 --audio tone:440 --record "$work/rec-1" --report "$work/peer-1.json" &
first=$!
"${run[@]}" "$bin" "${common[@]}" --id 2 --audio tone:660 --record "$work/rec-2" --report "$work/peer-2.json" &
second=$!
status=0
wait "$first" || status=$?
wait "$second" || status=$?
for n in 1 2; do
  python3 - "$work/peer-$n.json" <<'PY' || true
import json, sys
r = json.load(open(sys.argv[1]))
v, a = r.get("video", {}), r.get("audio", {})
print(f"peer: outcome={r['outcome']} role={r['calls'][0]['role'] if r['calls'] else '-'} "
      f"video {v.get('codec')} {v.get('width')}x{v.get('height')} decoded={v.get('decoded_frames')} "
      f"from id {v.get('peer_sender_id')}, audio {a.get('codec')} {a.get('dominant_hz')} Hz")
PY
done
echo "demo: reports, SDP and recordings are in $work"
exit "$status"
