#!/usr/bin/env bash
# Fetches Debian 13's `promtool` and `prometheus` into .tools/debian13/ for
# tests/kubernetes.rs: Debian 12's (2.42, the ones every other test uses) are
# built without Kubernetes service discovery, so they refuse
# `kubernetes_sd_configs`; Debian 13's (2.53) have it.
#
#   bash scripts/kubernetes-tools.sh     # .ci/run runs it; a second run does nothing
#
# The packages are only downloaded and unpacked here, not installed: apt reads
# Debian 13's package list into a state of its own under .tools/, so the
# machine's sources, pins and installed packages are left as they were. Both
# binaries are static Go programs that need only the C library.
set -euo pipefail
cd "$(dirname "$0")/.."

root=.tools/debian13
bin="$root/usr/bin"
if [ -x "$bin/promtool" ] && [ -x "$bin/prometheus" ]; then
    "$bin/promtool" --version | head -n 1
    exit 0
fi

state=$(realpath -m "$root/apt")
rm -rf "$state"
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/debs"
cat > "$state/sources.list" <<'EOF'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
EOF
apt_opts=(
    -o "Dir::Etc::SourceList=$state/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$state/lists"
    -o "Dir::Cache=$state/cache"
    # apt's download user cannot write under a root-owned checkout.
    -o "APT::Sandbox::User=root"
)
apt-get "${apt_opts[@]}" -q update
(cd "$state/debs" && apt-get "${apt_opts[@]}" -q download promtool prometheus)
for deb in "$state"/debs/*.deb; do
    dpkg-deb -x "$deb" "$root"
done
rm -rf "$state"  # the package lists and the packages: about 200 MB
"$bin/promtool" --version | head -n 1
"$bin/prometheus" --version | head -n 1
