#!/usr/bin/env bash
# make test: install what is missing, build, run the unit tests, then start a
# throwaway cluster with kyrodb preloaded, run pg_regress and the TAP tests
# against it, stop it. Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/scripts/common.sh

bash test/scripts/deps.sh test || exit 1
make -s -j2 >/dev/null || { echo "build failed"; exit 1; }
$SUDO make -s install >/dev/null || { echo "install failed"; exit 1; }

passed=0
failed=0
count() {  # count PASSED FAILED
    passed=$((passed + $1))
    failed=$((failed + $2))
}

# run_gtest BINARY: run a GoogleTest binary and count its results.
run_gtest() {
    local log p f
    log=$(mktemp)
    "$1" --gtest_brief=1 >"$log" 2>&1
    grep -vE '^Running main|^\[==========\]' "$log" | tail -n 40
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log")
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log")
    if [ -z "$p$f" ]; then f=1; fi  # crashed before its summary
    count "${p:-0}" "${f:-0}"
    rm -f "$log"
}

# ---- GoogleTest: the core without Postgres
make -s build/unit_tests build/wire_tests build/datagen >/dev/null || { echo "unit test build failed"; exit 1; }
echo "== unit tests (core)"
run_gtest build/unit_tests

# ---- a throwaway cluster
work=$(mktemp -d /tmp/kyrodb-test.XXXXXX)
chmod 755 "$work"
port=5499
cleanup() {
    cluster_stop "$work/data"
    rm -rf "$work"
}
trap cleanup EXIT
cluster_init "$work/data" "$work" "$port" || exit 1
cluster_start "$work/data" "$work/server.log" || exit 1
export PGHOST=$work PGPORT=$port PGUSER=$(pg_owner)

# ---- a libpq client using pgvector's wire formats
echo "== wire tests (libpq)"
run_gtest build/wire_tests

# ---- pg_regress
echo "== pg_regress"
regress_log=$(mktemp)
make -s installcheck >"$regress_log" 2>&1
status=$?
grep -E '^(ok|not ok|test |     |=)|tests (passed|failed)' "$regress_log" | grep -v '^=\+$' || true
p=$(grep -cE '^(ok|test .* \.\.\. ok)' "$regress_log")
f=$(grep -cE '^(not ok|test .* \.\.\. FAILED)|FAILED \(ignored\)' "$regress_log")
if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then cat "$regress_log"; f=1; fi
[ -f regression.diffs ] && [ "$f" -gt 0 ] && head -n 200 regression.diffs
count "$p" "$f"
rm -f "$regress_log"

# ---- TAP (PostgreSQL::Test::Cluster): run as the cluster owner from a copy
# it can read, since the checkout may live where that user cannot go.
if ls test/t/*.pl >/dev/null 2>&1; then
    tap=$work/tap
    mkdir -p "$tap"
    cp -r test/t "$tap/"
    cp build/datagen "$tap/"
    [ "$(id -u)" -eq 0 ] && chown -R "$(pg_owner)" "$tap"
    echo "== TAP"
    tap_log=$(mktemp)
    (cd "$tap" && as_owner env PATH="$PG_BIN:$PATH" PERL5LIB="$PG_PERL" TESTDIR="$tap" KYRODB_DATAGEN="$tap/datagen" \
        PG_REGRESS=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress \
        prove -v -I t t/*.pl ) >"$tap_log" 2>&1
    status=$?
    grep -E '^(t/|ok|not ok|Files=|Result:)|^#' "$tap_log" | grep -v '^# *$' | tail -n 100
    p=$(grep -cE '^ *ok [0-9]' "$tap_log")
    f=$(grep -cE '^ *not ok [0-9]' "$tap_log")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        tail -n 50 "$tap_log"
        for l in "$tap"/tmp_check/log/*; do echo "== $l"; tail -n 30 "$l"; done
        f=1
    fi
    count "$p" "$f"
    rm -f "$tap_log"
fi

echo
echo "kyrodb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
