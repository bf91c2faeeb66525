#!/usr/bin/env bash
# HTTP load comparison on loopback, bounded in time.
#
# Each variant of crates/bench/examples/load_target.rs (bare axum and actix-web,
# promhttp, and the peers) serves the 20-route benchmark app on one worker thread
# pinned to CPU 0; wrk (one thread, 32 connections) pinned to CPU 1 sends GETs
# spread over eight of its routes (static, parameterised, nested, wildcard), with
# random ids, for DURATION seconds. Variants run interleaved, ROUNDS times
# each, so that drift on a shared machine hits them all alike; the table shows
# each variant's median requests per second and its ratio to the bare framework.
#
#   scripts/load.sh                      # DURATION=10 ROUNDS=3: about 3 minutes
#   DURATION=5 ROUNDS=1 scripts/load.sh  # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18080}
VARIANTS=(axum-bare axum-promhttp axum-prometheus actix-bare actix-promhttp actix-web-prom)

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet -p promhttp-bench --example load_target
BIN=target/release/examples/load_target
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null || true' EXIT
cat > "$WORK/users.lua" <<'LUA'
math.randomseed(42)
local n = 0
local paths = {
  function(id) return "/" end,
  function(id) return "/users/" .. id end,
  function(id) return "/users/" .. id .. "/posts/" .. (id % 97) end,
  function(id) return "/api/v1/items/" .. id end,
  function(id) return "/api/v1/orders/" .. id .. "/lines/" .. (id % 13) end,
  function(id) return "/admin/users/" .. id end,
  function(id) return "/static/css/site" .. (id % 7) .. ".css" end,
  function(id) return "/health" end,
}
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1](math.random(1, 1000000)))
end
LUA

SERVER_CPU=(); CLIENT_CPU=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  SERVER_CPU=(taskset -c 0); CLIENT_CPU=(taskset -c 1)
fi

for round in $(seq 1 "$ROUNDS"); do
  for variant in "${VARIANTS[@]}"; do
    "${SERVER_CPU[@]}" "$BIN" "$variant" "127.0.0.1:$PORT" > "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 100); do grep -q listening "$WORK/server.log" && break; sleep 0.05; done
    rps=$("${CLIENT_CPU[@]}" wrk -t1 -c32 -d"${DURATION}s" -s "$WORK/users.lua" "http://127.0.0.1:$PORT" \
      | awk '/Requests\/sec/ {print $2}')
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
    echo "$variant $rps" >> "$WORK/results"
    echo "round $round: $variant $rps req/s" >&2
  done
done

echo
echo "| variant | requests/s (median of $ROUNDS x ${DURATION}s) | vs bare |"
echo "|---|---|---|"
python3 - "$WORK/results" "${VARIANTS[@]}" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
median = {v: statistics.median(float(r) for name, r in rows if name == v) for v in sys.argv[2:]}
for v in sys.argv[2:]:
    bare = median[v.split("-")[0] + "-bare"]
    print(f"| {v} | {median[v]:,.0f} | {median[v] / bare:.3f} |")
PY
