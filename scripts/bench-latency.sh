#!/usr/bin/env bash
# Prints the call-delay table (roompeer pair, Chromium pair, roompeer with Chromium; clean,
# 30±10 ms and 5% loss paths): see benches/latency.rs. Runs as root (network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo bench --bench latency "$@"
