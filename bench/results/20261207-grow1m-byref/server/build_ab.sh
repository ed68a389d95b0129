#!/bin/bash
# CREATE INDEX over 200,000 x 128 at maintenance_work_mem 64MB (the default), libraries alternating
cd /work/main; . test/scripts/common.sh
q() { as_owner $PG_BIN/psql -h /tmp/dev -p 5480 -d g4 -Atq "$@"; }
for round in 1 2 3; do
  for lib in old new; do
    as_owner $PG_BIN/pg_ctl -D /tmp/dev/data -m fast stop >/dev/null
    install -m 755 /tmp/$lib"lib.so" /usr/lib/postgresql/15/lib/kyrodb.so
    cluster_start /tmp/dev/data /tmp/dev/log >/dev/null
    q -c "DROP INDEX IF EXISTS t200_idx" -c "CHECKPOINT"
    t=$(q -c "SET maintenance_work_mem = '64MB'" -c "\timing on" -c "CREATE INDEX t200_idx ON t200 USING kyrodb (embedding) WITH (m = 16, ef_construction = 64)" 2>&1 | grep -o "Time: [0-9.]* ms")
    s=$(q -c "SELECT segments FROM kyrodb_index_stats('t200_idx')")
    echo "round $round $lib: $t, segments $s"
  done
done
