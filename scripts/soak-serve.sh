#!/usr/bin/env bash
# `roompeer serve` under load, on loopback, with figures (not part of CI: it takes ~2 minutes):
#   1,000 sockets in 500 rooms, each relaying 100 messages: none lost, memory stated;
#   5,000 idle sockets for 60 s (past the 25 s heartbeat and its 20 s timeout): none dropped,
#   memory per connection stated.
# Usage: scripts/soak-serve.sh   (after `cargo build --release` and `npm ci --prefix tests/servers`)
set -euo pipefail
cd "$(dirname "$0")/.."
# 5,000 sockets need as many descriptors on each side; raise the soft limit as far as allowed.
ulimit -n "$(ulimit -Hn)"
bin=target/release/roompeer
[ -x "$bin" ] || cargo build --release
start_serve() {
  coproc SERVE { exec "$bin" serve --http 127.0.0.1:0 --max-connections-per-address 0 2>/tmp/roompeer-soak-serve.log; }
  read -r line <&"${SERVE[0]}"
  port=$(echo "$line" | sed -E 's/.*"http":([0-9]+).*/\1/')
  pid=$SERVE_PID
}
start_serve
echo "relay: $(node tests/servers/serve-load.js "http://127.0.0.1:$port" "$pid" relay 1000 500 100)"
kill "$pid"; wait "$pid" 2>/dev/null || true
start_serve
echo "idle:  $(node tests/servers/serve-load.js "http://127.0.0.1:$port" "$pid" idle 5000 60)"
kill "$pid"; wait "$pid" 2>/dev/null || true
