#!/bin/sh
# Runs every fuzz target in turn, SECONDS each (default 600), at the lowest
# priority, keeping going past crashes (fork mode): crashes, timeouts (> 1 s)
# and out-of-memory inputs land in artifacts/TARGET/. Logs in logs/TARGET.log.
set -u
cd "$(dirname "$0")"
seconds=${1:-600}
shift 2>/dev/null || true
targets=${*:-"build_all generated checker parser lsp"}
mkdir -p logs
for target in $targets; do
    mkdir -p "corpus/$target" "artifacts/$target"
    nice -n 19 cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -artifact_prefix="artifacts/$target/" > "logs/$target.log" 2>&1
    echo "$target: $(grep -E '^#[0-9]+' "logs/$target.log" | tail -1)"
done
