#!/bin/bash
# $1 label (base|new), $2 round
cd /work/main && . test/scripts/common.sh
as_owner $PG_BIN/pg_ctl -D /tmp/dev/data -m fast stop >/dev/null
install -m 755 /tmp/$1.so /usr/lib/postgresql/15/lib/kyrodb.so
cluster_start /tmp/dev/data /tmp/dev/log >/dev/null 2>&1
cd /tmp/cl
/work/main/build/kyrodb_driver --conn "host=/tmp/dev port=5480 user=kyrodb dbname=cl" --dataset synthetic --n 200000 --phases copyload > ab_$1_$2.jsonl 2> ab_$1_$2.err
echo "$1 $2 $(grep copyload: ab_$1_$2.err)"
