#!/bin/bash
# sq8 codes against floats on one index, in the same connections: pgbench picks on.sql or off.sql at
# random for every transaction (each a SET, then the query). Per-transaction logs; the first 10 s of
# each 40 s run are left out (a new backend's first touches of the pool's pages).
. /work/main/test/scripts/common.sh
cd "$(dirname "$0")"; chmod 777 .
for ef in 20 40 80; do for c in 1 2; do
  rm -f log.*
  as_owner env PGOPTIONS="-c kyrodb.cache=off -c kyrodb.ef_search=$ef" \
    /usr/lib/postgresql/15/bin/pgbench -n -M prepared -h /tmp/dev -p 5480 -c $c -j $c -f on.sql -f off.sql -T 40 -l --log-prefix=log m1 > ef${ef}_c$c.txt 2>&1
  cat log.* | sort -k5,5n -k6,6n > ef${ef}_c$c.log
  awk -v ef=$ef -v c=$c 'NR==1{t0=$5} $5-t0>=10 {s[$4]+=$3; n[$4]++}
     END{printf "ef %d conns %d: codes %.1f us (%d), floats %.1f us (%d), floats/codes %.3f\n", ef, c, s[0]/n[0], n[0], s[1]/n[1], n[1], (s[1]/n[1])/(s[0]/n[0])}' ef${ef}_c$c.log
done; done
