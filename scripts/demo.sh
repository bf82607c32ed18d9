#!/usr/bin/env bash
# A working call with one command: builds roompeer, starts the project's copy of the seed's
# signaling server (socket.io 2.x, https with a certificate made as the seed makes it) and two
# headless roompeers that call each other for 10 seconds, then prints what each saw.
# Runs everything in a private network namespace (only loopback) when it can (root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release
bin=$PWD/target/release/roompeer
work=$(mktemp -d)
scripts/make-seed-cert.sh "$work/cert"

run=()
ns=""
if [ "$(id -u)" = 0 ] && ip netns add "roompeer-demo-$$" 2>/dev/null; then
  ns="roompeer-demo-$$"
  ip -n "$ns" link set lo up
  run=(ip netns exec "$ns")
fi
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT

"${run[@]}" node tests/servers/seed-server-v2.js --key "$work/cert/cert.pem" --cert "$work/cert/cert.crt" >"$work/server.out" &
server_pid=$!
until grep -q listening "$work/server.out" 2>/dev/null; do
  kill -0 "$server_pid" 2>/dev/null || { echo "the signaling server did not start"; exit 1; }
  sleep 0.1
done
port=$(sed -n 's/.*"https":\([0-9]*\).*/\1/p' "$work/server.out")
echo "demo: signaling server on https://127.0.0.1:$port (socket.io 2.x, the seed's rules)"

common=(--headless --server "https://127.0.0.1:$port" --pin-cert "$work/cert/cert.crt" --duration "${DEMO_SECONDS:-10}")
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
