#!/usr/bin/env bash
# Instructions per request of each variant of the overhead table, counted by
# callgrind (see crates/bench/examples/overhead_instructions.rs). Needs
# valgrind. COUNT (default 2000) is the base run's number of requests.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }
cargo build --release -q -p promhttp-bench --example overhead_instructions
bin=target/release/examples/overhead_instructions
count=${COUNT:-2000}
extra=10000
total() {
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'
    rm -f "$out"
}
echo "| variant | instructions per request |"
echo "|---|---|"
for variant in $("$bin" list); do
    a=$(total "$variant" "$count")
    b=$(total "$variant" $((count + extra)))
    echo "| $variant | $(( (b - a) / extra )) |"
done
