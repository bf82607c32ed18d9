#!/usr/bin/env bash
# The whole test suite: installs what it needs, then builds once (release profile, shared by the
# tests and the roompeer binary they drive) and runs unit and end-to-end tests.
# End-to-end tests create network namespaces, so this runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/check.sh
cargo test --release "$@"
