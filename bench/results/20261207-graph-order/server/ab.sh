#!/bin/bash
# ab2.sh ROUND DB1 DB2 ...: with one library, a driver search phase per database (s1: ids in input
# order, s2: in graph order) with kyrodb.quantized_search in the order given by MODES.
round=$1; shift
for db in "$@"; do
  for mode in $MODES; do
    PGOPTIONS="-c kyrodb.quantized_search=$mode" /work/main/build/kyrodb_driver \
      --conn "host=/tmp/dev port=5480 user=kyrodb dbname=$db" --n 1000000 --phases search \
      > /tmp/s1/o$round-$db-$mode.jsonl 2> /tmp/s1/o$round-$db-$mode.log
    echo "round $round $db $mode: $(grep 'kyrodb ef  40' /tmp/s1/o$round-$db-$mode.log)"
  done
done
