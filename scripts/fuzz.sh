#!/usr/bin/env bash
# Coverage-guided fuzzing of everything roompeer parses from the network, with AFL++ through
# cargo-afl (it instruments on stable Rust; nightly cannot be installed here).
#
#   scripts/fuzz.sh                      1,000,000 inputs for each target
#   scripts/fuzz.sh --inputs 10000000 engineio socketio room
#   scripts/fuzz.sh --replay TARGET FILE run one input through a target (a crash's file)
#
# Targets (roompeer::fuzz::TARGETS): engineio socketio room sdp turn_framer stamp rtcp.
# Seeds come from tests/fuzz_corpus/TARGET; AFL++'s findings go to fuzz/out/TARGET. A crash is
# copied into tests/fuzz_corpus/TARGET/ (the suite replays that folder: commit it with the
# fix) and the script exits 1. It prints one line per target: inputs, inputs/s, coverage.
set -euo pipefail
cd "$(dirname "$0")/.."

inputs=1000000
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --inputs) inputs="$2"; shift 2 ;;
    --replay) replay_target="$2"; replay_file="$3"; shift 3 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(engineio socketio room sdp turn_framer stamp rtcp)

command -v cargo-afl >/dev/null || cargo install --locked cargo-afl
# Builds AFL++'s runtime once per Rust version; "already built" is not an error.
cargo afl config --build >/dev/null 2>&1 || true
export CARGO_TARGET_DIR="$PWD/target/fuzz"
(cd fuzz && cargo afl build --release --quiet)
bin="$CARGO_TARGET_DIR/release/roompeer-fuzz"

if [ -n "${replay_target:-}" ]; then
  ROOMPEER_FUZZ_TARGET="$replay_target" "$bin" < "$replay_file"
  echo "$replay_target: $replay_file ran without a panic"
  exit 0
fi

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_QUIET=1
crashed=0
printf '%-12s %12s %10s %10s %8s %s\n' target inputs seconds inputs/s crashes coverage
for t in "${targets[@]}"; do
  out="fuzz/out/$t"
  rm -rf "$out"; mkdir -p fuzz/out
  ROOMPEER_FUZZ_TARGET="$t" cargo afl fuzz -i "tests/fuzz_corpus/$t" -o "$out" -E "$inputs" \
    -- "$bin" > "fuzz/out-$t.log" 2>&1 || { echo "$t: afl-fuzz failed, see fuzz/out-$t.log"; exit 1; }
  stats="$out/default/fuzzer_stats"
  get() { awk -F' *: *' -v k="$1" '$1==k {print $2}' "$stats"; }
  execs=$(get execs_done); secs=$(( $(get last_update) - $(get start_time) ))
  crashes=$(get saved_crashes)
  printf '%-12s %12s %10s %10s %8s %s\n' "$t" "$execs" "$secs" \
    "$(( execs / (secs > 0 ? secs : 1) ))" "$crashes" "$(get bitmap_cvg) of the map, $(get corpus_count) paths"
  if [ "${crashes:-0}" != 0 ]; then
    crashed=1
    for f in "$out"/default/crashes/id:*; do
      cp "$f" "tests/fuzz_corpus/$t/crash-$(sha1sum "$f" | cut -c1-12)"
    done
  fi
done
exit $crashed
