#!/usr/bin/env bash
# The cost of adding promhttp to a service: dependency count and clean build time
# of a minimal axum app, beside the same app with axum-prometheus (issue 11,
# "split by audience"). Each app is generated in a temporary directory with its
# own target directory and built from clean, debug profile, in turns, ROUNDS
# times; the table gives each app's median and its ratio to the bare axum app.
#
#   scripts/build_cost.sh [BEFORE_CHECKOUT]
#
# BEFORE_CHECKOUT (optional) is another promhttp checkout (say, a clone at an
# older commit), measured as `promhttp (before)`. Needs crates.io.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
before=${1:-}
rounds=${ROUNDS:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/promhttp-build-cost.XXXXXX")
trap 'rm -rf "$work"' EXIT

app() { # name, dependency lines, main.rs body
    mkdir -p "$work/$1/src"
    cat > "$work/$1/Cargo.toml" <<TOML
[package]
name = "minimal-$1"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
axum = "0.8"
tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
$2

[workspace]
TOML
    printf '%s\n' "$3" > "$work/$1/src/main.rs"
}

serve='    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    axum::serve(listener, app).await.unwrap();
}'
bare='use axum::{routing::get, Router};

#[tokio::main]
async fn main() {
    let app: Router = Router::new().route("/users/{id}", get(|| async { "hi" }));
'"$serve"
promhttp_main='use axum::{routing::get, Router};

#[tokio::main]
async fn main() {
    let metrics = promhttp::HttpMetrics::default();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "hi" }))
        .layer(promhttp::axum::MetricsLayer::new(&metrics))
        .route("/metrics", get(promhttp::axum::metrics_handler));
'"$serve"
peer_main='use axum::{routing::get, Router};

#[tokio::main]
async fn main() {
    let (layer, handle) = axum_prometheus::PrometheusMetricLayer::pair();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "hi" }))
        .layer(layer)
        .route("/metrics", get(move || async move { handle.render() }));
'"$serve"

apps=(bare)
app bare "" "$bare"
if [ -n "$before" ]; then
    app before "promhttp = { path = \"$before\", features = [\"axum\"] }" "$promhttp_main"
    apps+=(before)
fi
app default "promhttp = { path = \"$here\", features = [\"axum\"] }" "$promhttp_main"
app middleware "promhttp = { path = \"$here\", default-features = false, features = [\"axum\"] }" "$promhttp_main"
app peer 'axum-prometheus = "0.10"' "$peer_main"
apps+=(default middleware peer)
declare -A label=(
    [bare]="axum alone"
    [before]="promhttp (before)"
    [default]="promhttp, default features"
    [middleware]="promhttp, default-features = false"
    [peer]="axum-prometheus 0.10"
)

for a in "${apps[@]}"; do
    (cd "$work/$a" && cargo fetch -q)
done
declare -A times built own
for r in $(seq 1 "$rounds"); do
    for a in "${apps[@]}"; do
        rm -rf "$work/$a/target"
        start=$(date +%s.%N)
        log=$(cd "$work/$a" && cargo build --offline 2>&1)
        t=$(echo "$(date +%s.%N) - $start" | bc)
        built[$a]=$(grep -c '^ *Compiling ' <<<"$log")
        times[$a]="${times[$a]:-} $t"
        echo "round $r: ${label[$a]}: ${t}s" >&2
        # promhttp's own crates alone, their dependencies kept built.
        case $a in bare | peer) continue ;; esac
        (cd "$work/$a" && cargo clean -q --offline -p promhttp-core -p promhttp-axum -p promhttp)
        start=$(date +%s.%N)
        (cd "$work/$a" && cargo build -q --offline)
        t=$(echo "$(date +%s.%N) - $start" | bc)
        own[$a]="${own[$a]:-} $t"
        echo "round $r: ${label[$a]}, promhttp's crates alone: ${t}s" >&2
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
base=$(echo "${times[bare]}" | median)
echo
echo "| app | crates compiled | crates linked in (\`cargo tree -e normal\`) | clean build (median of $rounds) | vs axum alone | promhttp's crates alone (median) |"
echo "|---|---|---|---|---|---|"
for a in "${apps[@]}"; do
    m=$(echo "${times[$a]}" | median)
    deps=$(cd "$work/$a" && cargo tree -q --offline -e normal --prefix none | sed 's/ (\*)//' | sort -u | wc -l)
    o=""
    if [ -n "${own[$a]:-}" ]; then
        o=$(printf '%.1f s' "$(echo "${own[$a]}" | median)")
    fi
    printf '| %s | %s | %s | %.1f s | %+.1f s | %s |\n' "${label[$a]}" "${built[$a]}" "$((deps - 1))" "$m" "$(echo "$m - $base" | bc)" "$o"
done
