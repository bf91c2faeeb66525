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
install_hint() {
    echo "   To run them, install the tools as .ci/run does (Debian; see TESTING.md):"
    echo "     apt-get install prometheus prometheus-pushgateway prometheus-alertmanager victoria-metrics"
    echo "     python3 -m pip install 'prometheus_client==0.26.0' 'PyYAML>=6'"
    echo "     bash scripts/kubernetes-tools.sh   # Debian 13's promtool and prometheus, into .tools/"
}
# Lines: <test binary> TAB <test> TAB <kind> TAB <reason>; the kind is `test`
# (a conformance test skipped whole), `check` (a test's cross-check skipped) or
# `required` (a missing tool under PROMHTTP_REQUIRE_TOOLS=1: the test failed).
by_reason() {
    awk -F'\t' -v kinds="$1" 'index(kinds, $3) { print $1 "\t" $2 "\t" $4 }' "$log" |
        sort -u | cut -f3 | sort | uniq -c | sort -rn |
        awk '{ n = $1; $1 = ""; printf "   %5d tests: %s\n", n, substr($0, 2) }'
}
required=$(awk -F'\t' '$3 == "required" { print $1 "\t" $2 }' "$log" | sort -u | wc -l)
skipped=$(awk -F'\t' '$3 != "required" { print $1 "\t" $2 }' "$log" | sort -u | wc -l)
if [ "$required" -gt 0 ]; then
    echo "== Conformance tier: FAILED in $required tests, for want of a tool that"
    echo "   PROMHTTP_REQUIRE_TOOLS=1 requires:"
    by_reason required
    install_hint
elif [ "$skipped" -eq 0 ]; then
    echo "== Conformance tier: nothing skipped, every external tool was there."
else
    whole=$(awk -F'\t' '$3 == "test" { print $1 "\t" $2 }' "$log" | sort -u | wc -l)
    echo "== Conformance tier: SKIPPED $whole conformance tests, and the cross-checks"
    echo "   of $((skipped - whole)) more tests (their own assertions ran), for want of:"
    by_reason "test check"
    install_hint
    echo "   and run PROMHTTP_REQUIRE_TOOLS=1 scripts/test.sh, which fails on a missing tool."
fi
exit "$status"
