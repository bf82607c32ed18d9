#!/usr/bin/env bash
# The whole test suite: installs what it needs, then builds once (release profile, shared by the
# tests and the roompeer binary they drive) and runs unit and end-to-end tests.
# End-to-end tests create network namespaces, so they are marked ignored ("needs root") and run
# here with --include-ignored; run this as root. Arguments go to `cargo test`, e.g.
# `scripts/test.sh --test calls nobody_comes` runs one test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/check.sh
args=("$@")
if [ "$(id -u)" = 0 ]; then
  # The harness's own flags follow `--`; add ours there.
  split=-1
  for i in "${!args[@]}"; do
    if [ "${args[$i]}" = "--" ]; then split=$i; break; fi
  done
  if [ "$split" -ge 0 ]; then
    args=("${args[@]:0:$((split + 1))}" --include-ignored "${args[@]:$((split + 1))}")
  else
    args+=(-- --include-ignored)
  fi
else
  echo "test.sh: not root: the end-to-end tests (network namespaces) are left out" >&2
fi
cargo test --release "${args[@]}"
