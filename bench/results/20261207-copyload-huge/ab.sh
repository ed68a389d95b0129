#!/bin/bash
# Queries beside a COPY (kyrodb_driver --phases copyload, 200,000 rows + a COPY of 500,000) with the
# server's shared memory on 2 MB huge pages and on 4 kB pages, alternating; the server restarted
# before each run. $1: rounds.
cd /work/main && . test/scripts/common.sh
for i in $(seq 1 ${1:-3}); do for hp in 2900 0; do
  as_owner $PG_BIN/pg_ctl -D /tmp/dev/data -m fast -w stop >/dev/null
  echo $hp > /proc/sys/vm/nr_hugepages
  cluster_start /tmp/dev/data /tmp/dev/log >/dev/null; sleep 8
  label=$([ $hp = 0 ] && echo 4k || echo huge)
  build/kyrodb_driver --conn "host=/tmp/dev port=5480 user=kyrodb dbname=cl" --n 200000 --phases copyload \
    > /tmp/exp/cpl/${label}_$i.jsonl 2> /tmp/exp/cpl/${label}_$i.err
  echo "$label $i: $(grep -E 'copyload:' /tmp/exp/cpl/${label}_$i.err)"
done; done
as_owner $PG_BIN/pg_ctl -D /tmp/dev/data -m fast -w stop >/dev/null; echo 0 > /proc/sys/vm/nr_hugepages
