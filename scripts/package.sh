#!/usr/bin/env bash
# Builds the Debian package target/debian/roompeer_*.deb with cargo-deb (installed if missing):
# the binary, its manual pages and shell completions (which the binary writes from its own
# options), the desktop entry and the icon. `--no-build` packages the roompeer already in
# target/release (the test suite's) instead of building it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "package: installing cargo-deb"
  cargo install cargo-deb --version 3.8.0 --locked --quiet
fi
if [ "${1:-}" != --no-build ]; then
  scripts/setup.sh build
  cargo build --release --quiet
fi
bin=target/release/roompeer
dist=target/dist
mkdir -p "$dist/completions"
"$bin" man >"$dist/roompeer.1"
"$bin" man --serve >"$dist/roompeer-serve.1"
"$bin" completions bash >"$dist/completions/roompeer.bash"
"$bin" completions zsh >"$dist/completions/_roompeer"
"$bin" completions fish >"$dist/completions/roompeer.fish"
desktop-file-validate assets/roompeer.desktop 2>/dev/null || {
  command -v desktop-file-validate >/dev/null || echo "package: desktop-file-validate not installed; entry not checked"
}
# Stripped: the release profile keeps line tables for the tests' backtraces, which users need not
# download (200 MB with them, ~20 MB without).
cargo deb --no-build --strip --quiet
ls target/debian/roompeer_*.deb
