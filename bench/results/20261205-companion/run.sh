#!/bin/bash
# companion mode vs pgvector hnsw on the same pgvector-typed rows (dev cluster)
set -e
P="runuser -u kyrodb -- psql -h /tmp/dev -p 5480 -X -q -v ON_ERROR_STOP=1"
$P -d postgres -c "DROP DATABASE IF EXISTS cmp" -c "CREATE DATABASE cmp"
$P -d cmp -c "CREATE EXTENSION kyrodb_pgvector CASCADE"
for t in items_k items_h; do
  $P -d cmp -c "CREATE TABLE $t (id int PRIMARY KEY, embedding vector(128))"
  $P -d bench -c "COPY (SELECT id, embedding FROM items WHERE id <= 1000000) TO STDOUT (FORMAT binary)" | $P -d cmp -c "COPY $t FROM STDIN (FORMAT binary)"
done
$P -d cmp -c "VACUUM ANALYZE items_k" -c "VACUUM ANALYZE items_h"
t0=$(date +%s.%N); $P -d cmp -c "SET maintenance_work_mem = '2GB'" -c "CREATE INDEX items_k_idx ON items_k USING kyrodb (embedding vector_l2_ops)" -c "CHECKPOINT" -c "SELECT kyrodb_prewarm('items_k_idx')" >/dev/null; t1=$(date +%s.%N)
echo "kyrodb build: $(echo "$t1 - $t0" | bc) s"
t0=$(date +%s.%N); $P -d cmp -c "SET maintenance_work_mem = '2GB'" -c "CREATE INDEX items_h_idx ON items_h USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)" -c "CHECKPOINT"; t1=$(date +%s.%N)
echo "hnsw build: $(echo "$t1 - $t0" | bc) s"
$P -d cmp -c "SELECT pg_size_pretty(pg_relation_size('items_k_idx')) k, pg_size_pretty(pg_relation_size('items_h_idx')) h"
$P -d cmp -c "SELECT setseed(0.42)" -c "CREATE TABLE q AS SELECT row_number() OVER (ORDER BY id)::int AS qid, (SELECT array_agg(x + (random() - 0.5) * 0.02) FROM unnest(embedding::real[]) x)::vector(128) AS embedding FROM items_k WHERE id % 1000 = 7 LIMIT 1000" -c "CREATE UNIQUE INDEX ON q (qid)" -c "ANALYZE q"
# warm the heap and hnsw pages
$P -d cmp -c "SELECT count(*) FROM items_h" -c "SELECT count(*) FROM items_k" >/dev/null
$P -d cmp -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" -c "SELECT pg_prewarm('items_h_idx'), pg_prewarm('items_h'), pg_prewarm('items_k')" 
recall() {  # table
  $P -d cmp -tAc "DO \$\$
DECLARE r record; e int[]; g int[]; hits int := 0;
BEGIN
  FOR r IN SELECT embedding FROM q WHERE qid <= 50 LOOP
    SET LOCAL enable_indexscan = off;
    EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM $1 ORDER BY embedding <-> %L::vector LIMIT 10) s', r.embedding) INTO e;
    SET LOCAL enable_indexscan = on;
    SET LOCAL kyrodb.cache = off;
    SET LOCAL hnsw.ef_search = 40;
    EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM $1 ORDER BY embedding <-> %L::vector LIMIT 10) s', r.embedding) INTO g;
    hits := hits + (SELECT count(*) FROM unnest(g) x WHERE x = ANY (e));
  END LOOP;
  RAISE NOTICE 'recall %', round(hits / 500.0, 3);
END \$\$" 2>&1 | sed -n 's/.*recall //p'
}
printf '%-8s %7s %7s %8s %8s %8s\n' index clients recall qps p50_ms p99_ms
for t in items_k items_h; do
  r=$(recall $t)
  printf '\\set q random(1, 1000)\nSELECT id FROM %s ORDER BY embedding <-> (SELECT embedding FROM q WHERE qid = :q) LIMIT 10;\n' $t > /tmp/cmp/$t.sql
  chmod 644 /tmp/cmp/$t.sql
  for c in 1 2; do
    rm -f /tmp/cmp/log/pgbench_log.*; mkdir -p /tmp/cmp/log; chown kyrodb /tmp/cmp/log
    (cd /tmp/cmp/log && runuser -u kyrodb -- env PGOPTIONS="-c kyrodb.cache=off -c hnsw.ef_search=40" /usr/lib/postgresql/15/bin/pgbench -n -M prepared -h /tmp/dev -p 5480 -c $c -j $c -T 20 -l -f /tmp/cmp/$t.sql cmp > /tmp/cmp/pgbench.out 2>&1)
    qps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' /tmp/cmp/pgbench.out | head -1)
    read -r p50 p99 < <(cat /tmp/cmp/log/pgbench_log.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {printf "%.3f %.3f\n", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000}')
    printf '%-8s %7s %7s %8.0f %8s %8s\n' $t $c "$r" "$qps" "$p50" "$p99"
  done
done
