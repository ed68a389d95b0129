#!/bin/bash
# alternating 5 s pgbench bursts, quantized_search on/off, 1 and 2 connections
. /work/main/test/scripts/common.sh
for ef in 20 40 80; do for c in 1 2; do for i in 1 2 3 4 5 6; do for mode in on off; do
  tps=$(as_owner env PGOPTIONS="-c kyrodb.cache=off -c kyrodb.ef_search=$ef -c kyrodb.quantized_search=$mode" \
    /usr/lib/postgresql/15/bin/pgbench -n -M prepared -h /tmp/dev -p 5480 -c $c -j $c -f /tmp/exp/knn.sql -T 5 m1 2>&1 |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  echo "ef $ef conns $c round $i $mode $tps"
done; done; done; done
