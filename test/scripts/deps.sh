#!/usr/bin/env bash
# Installs the Debian packages kyrodb needs that are missing (as root, or
# through sudo). Usage: deps.sh [test|demo|bench|fuzz]
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/scripts/common.sh

purpose=${1:-test}
packages=(g++ make perl postgresql-15 postgresql-client-15 postgresql-server-dev-15
          libpq-dev libhnswlib-dev libgtest-dev libbenchmark-dev libipc-run-perl
          dataset-fashion-mnist)
case "$purpose" in
    demo)  ;;
    bench) packages+=(gnuplot-nox bc) ;;
    # The fuzz targets need only the core and clang with its libFuzzer and sanitizer runtimes.
    fuzz)  packages=(make clang-14 libclang-rt-14-dev) ;;
esac
# npm fetches the demo's embeddings, and make test's Node.js client tests
# (test/clients) with their packages; any install of node and npm will do
# (Node.js's own nodejs package ships npm and conflicts with Debian's npm).
if [ "$purpose" = demo ] || [ "$purpose" = bench ] || [ "$purpose" = test ]; then
    command -v node >/dev/null || packages+=(nodejs)
    command -v npm >/dev/null || packages+=(npm)
fi
command -v runuser >/dev/null || packages+=(util-linux)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
