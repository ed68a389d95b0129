#!/usr/bin/env bash
# make bench: micro benchmarks of the core (Google Benchmark), with the
# machine and commit they ran on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/scripts/deps.sh test
make -s build/kyrodb_bench
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (modified)')"
echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
build/kyrodb_bench --benchmark_min_time=${BENCH_MIN_TIME:-0.2} "$@"
