#!/usr/bin/env bash
# Instructions per request of each variant of the overhead table, counted by
# callgrind inside the request loop's function only (promhttp_bench's
# axum_request / actix_request), so that start-up (quanta's clock calibration
# among it, whose length varies) is not counted. See
# crates/bench/examples/overhead_instructions.rs. Needs valgrind. COUNT
# (default 10000) requests per variant, after the 8 warm-up requests, which are
# counted too.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }
cargo build --release -q -p promhttp-bench --example overhead_instructions
bin=target/release/examples/overhead_instructions
count=${COUNT:-10000}
warmup=8
echo "| variant | instructions per request |"
echo "|---|---|"
for variant in $("$bin" list); do
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        --toggle-collect='promhttp_bench::axum_request*' \
        --toggle-collect='promhttp_bench::actix_request*' \
        "$bin" "$variant" "$count" >/dev/null 2>&1
    total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    rm -f "$out"
    echo "| $variant | $(( total / (count + warmup) )) |"
done
