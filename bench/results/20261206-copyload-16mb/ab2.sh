#!/bin/bash
# $1 so label, $2 round tag, $3 SERVER_ENV (e.g. KYRODB_NICE=10 or none)
cd /work/main && . test/scripts/common.sh
as_owner $PG_BIN/pg_ctl -D /tmp/dev/data -m fast stop >/dev/null
install -m 755 /tmp/$1.so /usr/lib/postgresql/15/lib/kyrodb.so
[ "$3" != none ] && export SERVER_ENV="$3"
cluster_start /tmp/dev/data /tmp/dev/log >/dev/null 2>&1
cd /tmp/cl
LATDUMP=/tmp/cl/lat_$2.txt /tmp/driver_ld --conn "host=/tmp/dev port=5480 user=kyrodb dbname=cl" --dataset synthetic --n 200000 --phases copyload > r_$2.jsonl 2> r_$2.err
echo "$2 $(grep copyload: r_$2.err | sed 's/copyload: //')"
