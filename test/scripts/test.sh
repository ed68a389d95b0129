#!/usr/bin/env bash
# make test: install what is missing, build, run the unit tests, then start a
# throwaway cluster with kyrodb preloaded, run pg_regress and the TAP tests
# against it, stop it. Exits non-zero on any failure.
# SANITIZE=1 (make test SANITIZE=1): kyrodb and the core's tests built with
# ASan and UBSan, every server started with the ASan runtime preloaded, and
# any sanitizer report in a server's log counts as a failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/scripts/common.sh

bash test/scripts/deps.sh test || exit 1
BUILD=build
if [ "${SANITIZE:-0}" = 1 ]; then
    BUILD=build/sanitize
    echo "== sanitizers: ASan and UBSan"
fi
make -s -j2 >/dev/null || { echo "build failed"; exit 1; }
$SUDO make -s install >/dev/null || { echo "install failed"; exit 1; }

passed=0
failed=0
failures=
count() {  # count PASSED FAILED
    passed=$((passed + $1))
    failed=$((failed + $2))
}
# failure PART LINES: names what failed, for the list printed last (CI may
# show only the end of this output)
failure() {
    local line
    while IFS= read -r line; do
        [ -n "$line" ] && failures+="$1: $line"$'\n'
    done <<<"$2"
}

# run_gtest BINARY: run a GoogleTest binary and count its results.
run_gtest() {
    local log p f rc names
    log=$(mktemp)
    "$1" --gtest_brief=1 >"$log" 2>&1
    rc=$?
    grep -vE '^Running main|^\[==========\]' "$log" | tail -n 40
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log")
    # Brief output names each failed test on a "[  FAILED  ] Suite.Test" line and prints no
    # count of them. A non-zero exit with none named (a crash, an exit from a test), or no
    # summary at all, counts as one failure.
    names=$(grep -oE '^\[  FAILED  \] [A-Za-z_][A-Za-z0-9_/.]*' "$log" | sort -u | cut -c14-)
    f=$(grep -c . <<<"$names")
    failure "$(basename "$1")" "$names"
    if [ "$f" -eq 0 ] && { [ "$rc" -ne 0 ] || [ -z "$p" ]; }; then
        f=1
        failure "$(basename "$1")" "exit status $rc, no failed test named or no summary"
    fi
    count "${p:-0}" "$f"
    rm -f "$log"
}

# ---- GoogleTest: the core without Postgres
make -s $BUILD/unit_tests $BUILD/wire_tests $BUILD/datagen >/dev/null || { echo "unit test build failed"; exit 1; }
if [ "${SANITIZE:-0}" = 1 ]; then
    make -s $BUILD/asan_shim.so >/dev/null || { echo "asan shim build failed"; exit 1; }
fi
echo "== unit tests (core)"
run_gtest $BUILD/unit_tests

# ---- the library's dynamic symbols: entry points named kyrodb_* only, so
# that none takes the name of one of pgvector's (src/pg/exports.map)
echo "== exported symbols"
foreign=$(nm -D --defined-only kyrodb.so | awk '{print $3}' |
          grep -vE '^(kyrodb_|pg_finfo_kyrodb_)|^(Pg_magic_func|_PG_init)$')
if [ -z "$foreign" ]; then
    echo "ok: $(nm -D --defined-only kyrodb.so | wc -l) symbols, all kyrodb's"
    count 1 0
else
    echo "not ok: exported symbols without the kyrodb_ prefix:"; echo "$foreign" | head -n 20
    failure symbols "exported without the kyrodb_ prefix"
    count 0 1
fi

# ---- a throwaway cluster
work=$(mktemp -d /tmp/kyrodb-test.XXXXXX)
chmod 755 "$work"
port=5499
cleanup() {
    cluster_stop "$work/data"
    rm -rf "$work"
}
trap cleanup EXIT
path=$PG_BIN:$PATH
if [ "${SANITIZE:-0}" = 1 ]; then
    # Postgres is not instrumented: the runtime comes first by preload, with
    # the shim that lets it initialise (asan_shim.c), into the server only:
    # every server is started by pg_ctl, which the TAP tests find first in
    # their PATH here. Backends never free everything at exit, so leak
    # checking is off.
    install -m 755 $BUILD/asan_shim.so "$work/asan_shim.so"
    export SERVER_ENV="LD_PRELOAD=$(gcc -print-file-name=libasan.so):$work/asan_shim.so ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1"
    mkdir -p "$work/sanitized-bin"
    printf '#!/bin/sh\nexec env %s %s/pg_ctl "$@"\n' "$SERVER_ENV" "$PG_BIN" >"$work/sanitized-bin/pg_ctl"
    chmod 755 "$work/sanitized-bin/pg_ctl"
    path=$work/sanitized-bin:$path
fi
cluster_init "$work/data" "$work" "$port" || exit 1
cluster_start "$work/data" "$work/server.log" || exit 1
export PGHOST=$work PGPORT=$port PGUSER=$(pg_owner)

# ---- a libpq client using pgvector's wire formats
echo "== wire tests (libpq)"
run_gtest $BUILD/wire_tests

# ---- pg_regress
echo "== pg_regress"
regress_log=$(mktemp)
make -s installcheck >"$regress_log" 2>&1
status=$?
grep -E '^(ok|not ok|test |     |=)|tests (passed|failed)' "$regress_log" | grep -v '^=\+$' || true
p=$(grep -cE '^(ok|test .* \.\.\. ok)' "$regress_log")
failed_lines=$(grep -E '^(not ok|test .* \.\.\. FAILED)|FAILED \(ignored\)' "$regress_log")
f=$(grep -c . <<<"$failed_lines")
failure pg_regress "$failed_lines"
if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then cat "$regress_log"; f=1; failure pg_regress "exit status $status"; fi
[ -f regression.diffs ] && [ "$f" -gt 0 ] && head -n 200 regression.diffs
count "$p" "$f"
rm -f "$regress_log"

# ---- pgvector 0.8.6, for the tests beside pgvector: built from its source
# in $KYRODB_VENDOR, ../shared/vendor or the workspace's /work/shared/vendor,
# whichever has it first; never vendored
pgvector_src=
for vendor in ${KYRODB_VENDOR:-} "$(cd .. && pwd)/shared/vendor" /work/shared/vendor; do
    [ -f "$vendor/pgvector-0.8.6.tar.gz" ] && { pgvector_src=$vendor/pgvector-0.8.6.tar.gz; break; }
done
pgvector=0
if [ -n "$pgvector_src" ]; then
    if ! grep -qs "default_version = '0.8.6'" "$("$PG_BIN/pg_config" --sharedir)/extension/vector.control"; then
        echo "== pgvector 0.8.6: building from $pgvector_src"
        mkdir -p "$work/pgvector" && tar xzf "$pgvector_src" -C "$work/pgvector" &&
            make -s -C "$work/pgvector/pgvector-0.8.6" PG_CONFIG="$PG_BIN/pg_config" OPTFLAGS= >/dev/null 2>&1 &&
            $SUDO make -s -C "$work/pgvector/pgvector-0.8.6" PG_CONFIG="$PG_BIN/pg_config" install >/dev/null ||
            { echo "pgvector build failed"; failure pgvector "build failed"; count 0 1; }
    fi
    grep -qs "default_version = '0.8.6'" "$("$PG_BIN/pg_config" --sharedir)/extension/vector.control" && pgvector=1
else
    echo "== pgvector: no pgvector-0.8.6.tar.gz in \$KYRODB_VENDOR or ../shared/vendor; the tests beside pgvector are skipped"
fi

# ---- TAP (PostgreSQL::Test::Cluster): run as the cluster owner from a copy
# it can read, since the checkout may live where that user cannot go.
if ls test/t/*.pl >/dev/null 2>&1; then
    tap=$work/tap
    mkdir -p "$tap"
    cp -r test/t "$tap/"
    cp $BUILD/datagen "$tap/"
    [ "$(id -u)" -eq 0 ] && chown -R "$(pg_owner)" "$tap"
    echo "== TAP"
    tap_log=$(mktemp)
    (cd "$tap" && as_owner env PATH="$path" PERL5LIB="$PG_PERL" TESTDIR="$tap" KYRODB_DATAGEN="$tap/datagen" KYRODB_PGVECTOR=$pgvector \
        KYRODB_SANITIZE="${SANITIZE:-0}" PG_REGRESS=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress \
        prove -v -I t t/*.pl ) >"$tap_log" 2>&1
    status=$?
    grep -E '^(t/|ok|not ok|Files=|Result:)|^#' "$tap_log" | grep -v '^# *$' | tail -n 100
    p=$(grep -cE '^ *ok [0-9]' "$tap_log")
    f=$(grep -cE '^ *not ok [0-9]' "$tap_log")
    if [ "$status" -ne 0 ]; then
        # what failed, whatever the summary above cut: each failed check with
        # its diagnostics, and the end of the log of each test file that failed
        # or died
        echo "== TAP failures"
        grep -E -A12 '^ *not ok [0-9]' "$tap_log" | head -n 150
        for t in $(sed -n 's|^t/\([^ ]*\)\.pl .*Wstat.*|\1|p' "$tap_log"); do
            l="$tap/tmp_check/log/regress_log_$t"
            [ -f "$l" ] && { echo "== $l"; tail -n 40 "$l"; }
            for s in "$tap"/tmp_check/log/"$t"_*.log; do [ -f "$s" ] && { echo "== $s"; tail -n 30 "$s"; }; done
        done
        [ "$f" -eq 0 ] && f=1
        # each failed check under its file's name; a file that died also by its status
        failure TAP "$(awk '/^t\/[^ ]*\.pl /{file=$1} /^ *not ok [0-9]/{sub(/^ */, ""); print file ": " $0}' "$tap_log")"
        failure TAP "$(grep -E '^t/[^ ]*\.pl .*Wstat' "$tap_log")"
    fi
    count "$p" "$f"
    rm -f "$tap_log"
fi

# ---- Node.js clients (test/clients): node-postgres with pgvector-node, and
# LangChain JS's PGVectorStore, in a database with kyrodb (standalone) and,
# with pgvector, one with pgvector and kyrodb_pgvector (companion). npm ci
# installs the committed lockfile into a copy the cluster owner can read; the
# tests need nothing else from outside.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "== client tests (Node.js): skipped, node or npm is not installed (test/scripts/deps.sh test installs them)"
else
    clients=$work/clients
    mkdir -p "$clients"
    cp test/clients/package.json test/clients/package-lock.json test/clients/.npmrc test/clients/*.mjs "$clients/"
    [ "$(id -u)" -eq 0 ] && chown -R "$(pg_owner)" "$clients"
    echo "== client tests (Node.js $(node --version)): npm ci"
    clients_log=$(mktemp)
    if ! (cd "$clients" && as_owner env npm_config_cache="$clients/.npm" npm ci --no-audit --no-fund) >"$clients_log" 2>&1; then
        tail -n 30 "$clients_log"
        echo "npm ci failed"
        failure clients "npm ci failed"
        count 0 1
    else
        modes=standalone
        [ "$pgvector" = 1 ] && modes="standalone companion"
        for mode in $modes; do
            db=clients_$mode
            if [ "$mode" = standalone ]; then ext="CREATE EXTENSION kyrodb"; else ext="CREATE EXTENSION kyrodb_pgvector CASCADE"; fi
            echo "== client tests (Node.js, $mode: $ext)"
            if ! { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" &&
                   "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" -c "$ext"; } >"$clients_log" 2>&1; then
                cat "$clients_log"
                failure "clients ($mode)" "database setup failed"
                count 0 1
                continue
            fi
            (cd "$clients" && as_owner env MODE="$mode" PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" PGDATABASE="$db" \
                node --test --test-reporter=tap pg.test.mjs langchain.test.mjs) >"$clients_log" 2>&1
            status=$?
            grep -E '^(ok|not ok) [0-9]|^# [0-9]+ of [0-9]+ answers' "$clients_log"
            # node's summary counts every test (cancelled ones are failures)
            p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$clients_log" | tail -n 1)
            f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$clients_log" | tail -n 1)
            c=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$clients_log" | tail -n 1)
            f=$(( ${f:-0} + ${c:-0} ))
            if [ "$status" -ne 0 ]; then
                echo "== client test failures ($mode)"
                grep -E -A25 '^not ok [0-9]' "$clients_log" | head -n 150
                [ -z "$p" ] && tail -n 30 "$clients_log"  # died before its summary
                [ "$f" -eq 0 ] && f=1
                failed_lines=$(grep -E '^not ok [0-9]' "$clients_log")
                failure "clients ($mode)" "${failed_lines:-exit status $status}"
            fi
            count "${p:-0}" "$f"
        done
    fi
    rm -f "$clients_log"
fi

# ---- sanitizer reports anywhere in the servers' logs
if [ "${SANITIZE:-0}" = 1 ]; then
    reports=$(grep -lE 'ERROR: AddressSanitizer|runtime error:' "$work/server.log" "$work"/tap/tmp_check/log/* 2>/dev/null)
    if [ -n "$reports" ]; then
        echo "== sanitizer reports in:"
        for r in $reports; do echo "$r"; grep -A30 -E 'ERROR: AddressSanitizer|runtime error:' "$r" | head -60; done
        failure sanitizers "$reports"
        count 0 1
    else
        echo "== sanitizers: no report in any server log"
        count 1 0
    fi
fi

echo
if [ -n "$failures" ]; then
    echo "== what failed"
    printf '%s' "$failures"
fi
echo "kyrodb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
