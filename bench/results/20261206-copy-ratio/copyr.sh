#!/bin/bash
# alternating COPY of 100k rows (binary) into items2 (pk + kyrodb) and nk (pk only); rows/s
P="psql -h /tmp/dev -p 5480 -U kyrodb -d hot200 -qAt"
for r in 1 2 3 4 5; do
 for t in items2 nk; do
  $P -c "delete from $t where id > 1000000" -c "vacuum $t" >/dev/null
  [ $t = items2 ] && $P -c "select kyrodb_flush('items2_idx')" >/dev/null
  $P -c "checkpoint" >/dev/null
  s=$(date +%s.%N)
  $P -c "copy $t from '/tmp/dev/copy100k.bin' (format binary)" >/dev/null
  e=$(date +%s.%N)
  echo "$r $t $(echo "100000/($e-$s)" | bc) rows/s"
  # let the background flush of the rows end before the next measurement
  g0=x; while true; do g=$($P -c "select generation, hot_rows from kyrodb_index_stats('items2_idx')"); [ "$g" = "$g0" ] && break; g0=$g; sleep 3; done
 done
done
