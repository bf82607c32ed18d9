#!/usr/bin/env bash
# A long roompeer-to-roompeer call on loopback (640x480@30, H.264, the embedded room server),
# with both sides' `--stats` lines summarised per minute: memory, frames received, lip sync.
# Not part of CI. Usage: scripts/soak-call.sh [MINUTES]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
bin=target/release/roompeer
[ -x "$bin" ] || cargo build --release
out=$(mktemp -d /tmp/roompeer-soak-call.XXXX)
port=$((20000 + RANDOM % 20000))
common=(--headless --listen "127.0.0.1:$port" --room soak --calls 1 --duration $((minutes * 60)) --video-size 640x480)
"$bin" "${common[@]}" --id 1 --stats "$out/a.jsonl" --report "$out/a.json" 2>"$out/a.log" &
a=$!
# The second joins once the first is hosting (its server answers).
until curl -sf "http://127.0.0.1:$port/" >/dev/null; do sleep 0.1; done
"$bin" "${common[@]}" --id 2 --stats "$out/b.jsonl" --report "$out/b.json" 2>"$out/b.log" &
b=$!
wait $a $b || true
python3 - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
for side in "ab":
    lines = [json.loads(l) for l in open(f"{out}/{side}.jsonl")]
    report = json.load(open(f"{out}/{side}.json"))
    by_min = {}
    for l in lines:
        by_min.setdefault(int(l["t"] // 60), []).append(l)
    print(f"side {side}: outcome {report['outcome']}, {len(lines)} samples")
    print("  minute  rss_kib  fps_in(min/mean)  av_sync_ms(mean)  video_buffer_ms  audio_buffer_ms")
    for m, ls in sorted(by_min.items()):
        fps = [l["fps_in"] for l in ls]
        sync = [l["av_sync_ms"] for l in ls if l.get("av_sync_ms") is not None]
        vb = [l["video_buffer_ms"] for l in ls if l.get("video_buffer_ms") is not None]
        ab = [l["audio_buffer_ms"] for l in ls if l.get("audio_buffer_ms") is not None]
        mean = lambda v: f"{statistics.mean(v):.1f}" if v else "-"
        print(f"  {m:6d} {statistics.median(l['rss_kib'] for l in ls):8.0f}  {min(fps):5.1f}/{statistics.mean(fps):5.1f}"
              f"  {mean(sync):>16}  {mean(vb):>15}  {mean(ab):>15}")
PY
echo "files: $out"
