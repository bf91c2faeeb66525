#!/usr/bin/env bash
# The middleware alone compiles neither a parser nor the exporter toolkit nor
# prometheus-client (README, "Features"): with default features off, no
# feature of promhttp-core that brings them is enabled, and prometheus-client
# is not in the dependency tree. The default build is checked the other way,
# so that the check can fail.
set -euo pipefail
cd "$(dirname "$0")/.."

core_features() {
    cargo tree -q -p promhttp "$@" -e features -i promhttp-core |
        grep -o 'promhttp-core feature "[a-z-]*"' | sort -u || true
}
fail=0
for adapter in axum actix; do
    got=$(core_features --no-default-features --features "$adapter")
    if grep -Eq '"(parse|exporter|prometheus-client|default)"' <<<"$got"; then
        echo "FAIL: promhttp --no-default-features --features $adapter enables:"
        echo "$got"
        fail=1
    fi
    if cargo tree -q -p promhttp --no-default-features --features "$adapter" -e normal --prefix none |
        grep -q '^prometheus-client '; then
        echo "FAIL: prometheus-client is compiled into the middleware-only build ($adapter)"
        fail=1
    fi
    cargo check -q -p promhttp --no-default-features --features "$adapter"
done
got=$(core_features --features axum)
for f in parse prometheus-client; do
    if ! grep -q "\"$f\"" <<<"$got"; then
        echo "FAIL: the default build lacks promhttp-core's \`$f\`: $got"
        fail=1
    fi
done
if grep -q '"exporter"' <<<"$got"; then
    echo "FAIL: the default build compiles the exporter toolkit"
    fail=1
fi
[ "$fail" -eq 0 ] && echo "middleware-only builds: no parser, no toolkit, no prometheus-client"
exit "$fail"
