#!/bin/bash
# The dev cluster restarted on 2 MB huge pages and on 4 kB pages, alternating; one connection at
# ef_search 40 on floats for 30 s: mean latency of its first 2 s and after its first 10 s.
. /work/main/test/scripts/common.sh
cd "$(dirname "$0")"
for i in 1 2 3; do for hp in 2900 0; do
  as_owner $PG_BIN/pg_ctl -D /tmp/dev/data -m fast -w stop >/dev/null
  echo $hp > /proc/sys/vm/nr_hugepages
  cluster_start /tmp/dev/data /tmp/dev/log; sleep 4
  used=$(awk '/HugePages_Total/ {t=$2} /HugePages_Free/ {f=$2} END {print t-f}' /proc/meminfo)
  rm -f log.*
  as_owner env PGOPTIONS="-c kyrodb.cache=off -c kyrodb.ef_search=40" \
    /usr/lib/postgresql/15/bin/pgbench -n -M prepared -h /tmp/dev -p 5480 -c 1 -j 1 -f off.sql -T 30 -l --log-prefix=log m1 > huge_${i}_${hp}.txt 2>&1
  cat log.* | awk -v hp=$hp -v used=$used 'NR==1{t0=$5+$6/1e6} {t=$5+$6/1e6-t0} t<2 {a+=$3; na++} t>=10 {b+=$3; nb++}
     END {printf "huge pages in use %d: first 2 s %.1f us/q (%d), after 10 s %.1f us/q (%d)\n", used, a/na, na, b/nb, nb}'
done; done
as_owner $PG_BIN/pg_ctl -D /tmp/dev/data -m fast -w stop >/dev/null; echo 0 > /proc/sys/vm/nr_hugepages
cluster_start /tmp/dev/data /tmp/dev/log
