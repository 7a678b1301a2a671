#!/bin/sh
# Re-runs every artifact the fuzzers saved, at normal priority, one at a time:
# prints its status and time, so that a timeout caused by a loaded machine
# (the runs are at nice 19) is told apart from a real hang (> 1 s here too)
# and a crash (non-zero status).
cd "$(dirname "$0")"
bin=target/x86_64-unknown-linux-gnu/release
for file in artifacts/*/*; do
    [ -f "$file" ] || continue
    target=$(basename "$(dirname "$file")")
    start=$(date +%s%N)
    timeout 20 "$bin/$target" "$file" > /dev/null 2>&1
    status=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "$target $(basename "$file") status=$status ${ms}ms"
done
