#!/bin/bash
# kill -9 the dev cluster, start it, time accept and "every image of $DB items_idx in the pool".
# usage: DB=p10 restart.sh WORKERS (DB: a database whose items_idx is the index)
cd /work/main && . test/scripts/common.sh
P=(as_owner psql -h /tmp/dev -p 5480 -d $DB -qAt)
"${P[@]}" -c "ALTER SYSTEM SET kyrodb.prewarm_workers = $1" -c "CHECKPOINT"
pm=$(head -n 1 /tmp/dev/data/postmaster.pid)
pids="$pm $(pgrep -P $pm | tr '\n' ' ')"
kill -9 $pids
for p in $pids; do while kill -0 $p 2>/dev/null; do sleep 0.01; done; done
t0=$(date +%s.%N)
as_owner $PG_BIN/pg_ctl -D /tmp/dev/data -l /tmp/dev/log start >/dev/null 2>&1
until $PG_BIN/pg_isready -q -h /tmp/dev -p 5480; do sleep 0.01; done
t1=$(date +%s.%N)
until [ "$("${P[@]}" -c "SELECT images_shared = segments FROM kyrodb_index_stats('items_idx')" 2>/dev/null)" = t ]; do sleep 0.05; done
t2=$(date +%s.%N)
seg=$("${P[@]}" -c "SELECT segments FROM kyrodb_index_stats('items_idx')")
mem=$("${P[@]}" -c "SELECT loads FROM kyrodb_memory()")
printf 'workers %s: accept %.2f s, prewarmed %.2f s later (segments %s, pool loads %s)\n' $1 $(echo "$t1-$t0"|bc) $(echo "$t2-$t1"|bc) $seg $mem
