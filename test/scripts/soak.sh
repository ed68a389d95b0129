#!/usr/bin/env bash
# make soak: install what is missing, build, then run test/soak/soak.pl
# (SOAK_MINUTES, default 30) against its own primary and standby. Writes
# bench/results/<date>-<commit>-soak/summary.md. Not part of make test.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/scripts/common.sh

bash test/scripts/deps.sh test || exit 1
make -s -j2 >/dev/null || { echo "build failed"; exit 1; }
$SUDO make -s install >/dev/null || { echo "install failed"; exit 1; }
make -s build/datagen >/dev/null || { echo "datagen build failed"; exit 1; }

out=bench/results/$(date -u +%Y%m%d-%H%M%S)-$(git rev-parse --short HEAD)-soak
mkdir -p "$out"
work=$(mktemp -d /tmp/kyrodb-soak.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
cp -r test/t test/soak build/datagen "$work/"
mkdir -p "$work/out"
[ "$(id -u)" -eq 0 ] && chown -R "$(pg_owner)" "$work"
(cd "$work" && as_owner env PATH="$PG_BIN:$PATH" PERL5LIB="$PG_PERL:$work/t" TESTDIR="$work" \
    KYRODB_DATAGEN="$work/datagen" KYRODB_SOURCE="$PWD" SOAK_OUT="$work/out" SOAK_MINUTES="${SOAK_MINUTES:-30}" \
    PG_REGRESS=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress \
    prove -v soak/soak.pl)
status=$?
cp "$work"/out/* "$out/" 2>/dev/null
# the servers' logs (every statement: hundreds of MB) stay out of the results
mkdir -p bench/results/tmp
cp -r "$work"/tmp_check/log "bench/results/tmp/$(basename "$out")-logs" 2>/dev/null
echo "results: $out (server logs: bench/results/tmp/$(basename "$out")-logs)"
exit $status
