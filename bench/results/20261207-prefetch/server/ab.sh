#!/bin/bash
# ab.sh ROUND LIB1 LIB2 ...: per library: swap kyrodb.so with the server stopped, then a driver
# search phase with kyrodb.quantized_search in the order given by MODES (e.g. "on off").
. /work/main/test/scripts/common.sh
round=$1; shift
for lib in "$@"; do
  as_owner $PG_BIN/pg_ctl -D /tmp/dev/data -m fast stop >/dev/null
  cp /tmp/s1/kyrodb-$lib.so /usr/lib/postgresql/15/lib/kyrodb.so
  cluster_start /tmp/dev/data /tmp/dev/log >/dev/null 2>&1
  for mode in $MODES; do
    PGOPTIONS="-c kyrodb.quantized_search=$mode" /work/main/build/kyrodb_driver \
      --conn "host=/tmp/dev port=5480 user=kyrodb dbname=s1" --n 1000000 --phases search \
      > /tmp/s1/r$round-$lib-$mode.jsonl 2> /tmp/s1/r$round-$lib-$mode.log
    echo "round $round $lib $mode: $(grep 'kyrodb ef  40' /tmp/s1/r$round-$lib-$mode.log)"
  done
done
