#!/bin/bash
# bench/run.sh's recovery step on the dev cluster's $DB (kyrodb.prewarm_workers $1)
cd /work/main && . test/scripts/common.sh
P=(as_owner psql -h /tmp/dev -p 5480 -d $DB -qAt)
"${P[@]}" -c "ALTER SYSTEM SET kyrodb.prewarm_workers = $1" -c "CHECKPOINT"
"${P[@]}" -c "INSERT INTO items (id, category, category10, embedding) SELECT 20000000 + id, id % 100, id % 10, embedding FROM items WHERE id <= 5000"
before=$("${P[@]}" -c "SELECT count(*) FROM items")
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
"${P[@]}" -c "SELECT id FROM items ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 1) LIMIT 10" >/dev/null
t3=$(date +%s.%N)
"${P[@]}" -c "SELECT id FROM items ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 2) LIMIT 10" >/dev/null
t4=$(date +%s.%N)
after=$("${P[@]}" -c "SELECT count(*) FROM items")
"${P[@]}" -c "DELETE FROM items WHERE id > 20000000"
printf 'workers %s: accept %.2f s, prewarmed %.2f s later, first query %.2f s, next %.2f s, rows lost %d\n' $1 $(echo "$t1-$t0"|bc) $(echo "$t2-$t1"|bc) $(echo "$t3-$t2"|bc) $(echo "$t4-$t3"|bc) $((before-after))
