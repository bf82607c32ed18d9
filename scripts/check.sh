#!/usr/bin/env bash
# Is the tree healthy? Formatting, then clippy with warnings as errors (same release profile as
# the tests, so nothing is compiled twice).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --release --all-targets -- -D warnings
