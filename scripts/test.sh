#!/usr/bin/env bash
# The README's test command: every test of the workspace, then what the
# conformance tier (TESTING.md) could not check on this machine.
#
#   scripts/test.sh                            # cargo test --workspace --all-features
#   scripts/test.sh --test axum                # arguments go on to cargo test
#   PROMHTTP_REQUIRE_TOOLS=1 scripts/test.sh   # a missing tool fails its tests (CI)
#
# The tests assert on what our own parser reads, so they run and check on any
# machine. Checks against tools we did not write (Python's prometheus_client,
# promtool, a real Prometheus) are skipped where a tool is missing: each skip is
# written to the file named by PROMHTTP_SKIP_LOG (tests/common/mod.rs), and the
# summary at the end counts them. Exits with cargo test's status.
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp "${TMPDIR:-/tmp}/promhttp-skips.XXXXXX")
trap 'rm -f "$log"' EXIT

PROMHTTP_SKIP_LOG="$log" cargo test --workspace --all-features "$@"
status=$?

echo
if [ ! -s "$log" ]; then
    echo "== Conformance tier: nothing skipped, every external tool was there."
else
    # Lines: <test binary> TAB <test> TAB <kind: test|check> TAB <reason>.
    whole=$(awk -F'\t' '$3 == "test" { print $1 "\t" $2 }' "$log" | sort -u | wc -l)
    any=$(cut -f1,2 "$log" | sort -u | wc -l)
    checks=$((any - whole))
    echo "== Conformance tier: SKIPPED $whole conformance tests, and the cross-checks"
    echo "   of $checks more tests (their own assertions ran), for want of:"
    cut -f1,2,4 "$log" | sort -u | cut -f3 | sort | uniq -c | sort -rn |
        awk '{ n = $1; $1 = ""; printf "   %5d tests: %s\n", n, substr($0, 2) }'
    echo "   To run them, install the tools as .ci/run does (Debian; see TESTING.md):"
    echo "     apt-get install prometheus"
    echo "     python3 -m pip install 'prometheus_client==0.26.0' 'PyYAML>=6'"
    echo "   and run PROMHTTP_REQUIRE_TOOLS=1 scripts/test.sh, which fails on a missing tool."
fi
exit "$status"
