# N new connections (default 20) to database DB (default g2), each: one index query (EXPLAIN ANALYZE);
# prints the quartiles of the execution times
cd /work/main && . test/scripts/common.sh
for i in $(seq 1 ${N:-20}); do as_owner psql -h /tmp/dev -p 5480 -d ${DB:-g2} -At -c "SET enable_seqscan=off" -c "EXPLAIN (ANALYZE, COSTS OFF) SELECT id FROM items ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = $((i+200))) LIMIT 10" | sed -n 's/Execution Time: \(.*\) ms/\1/p'; done | sort -n | awk '{a[NR]=$1} END {printf "n %d: q1 %.2f median %.2f q3 %.2f ms\n", NR, a[int(NR/4)+1], a[int(NR/2)+1], a[int(3*NR/4)+1]}'
