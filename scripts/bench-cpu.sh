#!/usr/bin/env bash
# Prints what roompeer costs beside Chromium in one run: codec time per frame, a roompeer waiting
# in a room, and CPU-s and PSS per side of roompeer and Chromium calls (see benches/cpu.rs).
# Runs as root (network namespaces). ROOMPEER_BENCH_PROFILE=DIR also writes each roompeer side's
# CPU profile (flame graph and shares) under DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo bench --bench cpu "$@"
