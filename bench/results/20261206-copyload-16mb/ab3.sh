#!/bin/bash
# $1 round tag, $2 nice for the COPY's backend (0: leave it)
cd /tmp/cl
if [ "$2" != 0 ]; then
  ( while true; do
      p=$(psql -h /tmp/dev -p 5480 -U kyrodb -d cl -qAtX -c "select pid from pg_stat_activity where query like 'COPY items%'" 2>/dev/null)
      if [ -n "$p" ]; then renice -n $2 -p $p > /tmp/cl/renice_$1.txt 2>&1; break; fi
      sleep 0.2
    done ) &
  LOOP=$!
fi
/work/main/build/kyrodb_driver --conn "host=/tmp/dev port=5480 user=kyrodb dbname=cl" --dataset synthetic --n 200000 --phases copyload > r_$1.jsonl 2> r_$1.err
[ -n "$LOOP" ] && kill $LOOP
echo "$1 $(grep copyload: r_$1.err | sed 's/copyload: //')"
