#!/bin/bash
# alternate: the core walk (core/ctx.cpp, mode 0: one process, private memory; ef 40, floats) and the
# server's walk timed by uprobes on entry and return of Searcher::search_any<SegmentView>, set first
# with (the address is that of the installed kyrodb.so of 0688c1e: `nm -C kyrodb.so | grep search_any`)
#   perf probe -x /usr/lib/postgresql/15/lib/kyrodb.so -a 'sin=0x31930'
#   perf probe -x /usr/lib/postgresql/15/lib/kyrodb.so -a 'sout=0x31930%return'
. /work/main/test/scripts/common.sh
for i in 1 2 3; do
  setsid ../core/ctx 0 0 40 2>/dev/null | tail -1
  as_owner env PGOPTIONS="-c kyrodb.cache=off -c kyrodb.ef_search=40 -c kyrodb.quantized_search=off" \
    /usr/lib/postgresql/15/bin/pgbench -n -M prepared -h /tmp/dev -p 5480 -c 1 -j 1 -f knn.sql -T 6 m1 > pgb.out 2>&1 &
  sleep 1
  perf record -q -e probe_kyrodb:sin -e probe_kyrodb:sout__return -a -o p.data -- sleep 4 2>/dev/null
  wait
  perf script -i p.data -F tid,time,event 2>/dev/null | awk '
    /sin:/ {gsub(":","",$2); t[$1]=$2} /sout__return:/ {gsub(":","",$2); if($1 in t){s+=$2-t[$1]; n++; delete t[$1]}}
    END {printf "server walk %.1f us/q over %d searches\n", s*1e6/n, n}'
  echo "  pgbench tps $(sed -n 's/^tps = \([0-9.]*\).*/\1/p' pgb.out)"
done
