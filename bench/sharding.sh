#!/usr/bin/env bash
# Sharding over postgres_fdw against one server, on one machine:
#   bash bench/sharding.sh SOCKET_DIR PORT OUT_DIR [SECONDS]
# The server at SOCKET_DIR:PORT (database bench, the driver's table items with
# its kyrodb index items_idx) is the single server and becomes the
# coordinator. Two shard clusters started here take half of items each (by id
# range) with their own kyrodb index; items_sharded on the coordinator is a
# table partitioned over them as foreign tables. pgbench then runs the same
# 1,000 queries (rows of items moved slightly) against items, against
# items_sharded (ORDER BY over the parent: a Merge Append that reads the
# shards one after the other) and as one UNION ALL of per-shard LIMITs (Async
# Foreign Scans: the shards at once), on 1 and 2 clients. Recall@10 of each is
# measured on 50 queries against an exact scan. The result cache is off
# everywhere: these are searches. Appends JSON lines to
# OUT_DIR/results.jsonl and prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/scripts/common.sh

sock=$1 port=$2 out=$3 seconds=${4:-20}
owner=$(pg_owner)
main=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U "$owner" -d bench)
work=$(mktemp -d /tmp/kyrodb-shards.XXXXXX)
chmod 755 "$work"
cleanup() {
    for s in 1 2; do cluster_stop "$work/shard$s"; done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$out"

n=$("${main[@]}" -tAc "SELECT max(id) FROM items")
dim=$("${main[@]}" -tAc "SELECT vector_dims(embedding) FROM items LIMIT 1")
half=$((n / 2))
for s in 1 2; do
    p=$((5494 + s))
    cluster_init "$work/shard$s" "$work" "$p" "fsync = on
shared_buffers = 2GB
kyrodb.shared_memory_size = 1GB
maintenance_work_mem = 2GB
max_parallel_maintenance_workers = 0
kyrodb.cache = off"
    cluster_start "$work/shard$s" "$work/shard$s.log"
    shard=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$p" -U "$owner" -d postgres)
    "${shard[@]}" -c "CREATE EXTENSION kyrodb" \
        -c "CREATE TABLE items (id int PRIMARY KEY, category int, category10 int, embedding vector($dim))"
    if [ "$s" = 1 ]; then range="id <= $half"; else range="id > $half"; fi
    echo "== shard $s: copying the rows with $range"
    "${main[@]}" -c "COPY (SELECT id, category, category10, embedding FROM items WHERE $range) TO STDOUT (FORMAT binary)" |
        "${shard[@]}" -c "COPY items FROM STDIN (FORMAT binary)"
    t0=$(date +%s.%N)
    "${shard[@]}" -c "CREATE INDEX items_idx ON items USING kyrodb (embedding)" -c "CHECKPOINT" \
        -c "SELECT kyrodb_prewarm('items_idx')" >/dev/null
    echo "shard $s: index built in $(printf '%.0f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"
done

"${main[@]}" <<SQL
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
DROP TABLE IF EXISTS items_sharded, bench_queries;
DROP SERVER IF EXISTS shard1, shard2 CASCADE;
-- fetch_size = the LIMIT: each shard sends the rows a LIMIT 10 can take in one round trip.
-- jit off: the shards' cursors have no LIMIT, so their plans cost as much as reading every
-- row, past jit_above_cost: compiling them took 2-3 ms per query and shard.
CREATE SERVER shard1 FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host '$work', port '5495', dbname 'postgres', extensions 'kyrodb', async_capable 'true', fetch_size '10',
          options '-c jit=off');
CREATE SERVER shard2 FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host '$work', port '5496', dbname 'postgres', extensions 'kyrodb', async_capable 'true', fetch_size '10',
          options '-c jit=off');
CREATE USER MAPPING FOR CURRENT_USER SERVER shard1;
CREATE USER MAPPING FOR CURRENT_USER SERVER shard2;
CREATE TABLE items_sharded (id int, category int, category10 int, embedding vector($dim)) PARTITION BY RANGE (id);
CREATE FOREIGN TABLE items_shard1 PARTITION OF items_sharded FOR VALUES FROM (MINVALUE) TO ($half + 1)
  SERVER shard1 OPTIONS (table_name 'items');
CREATE FOREIGN TABLE items_shard2 PARTITION OF items_sharded FOR VALUES FROM ($half + 1) TO (MAXVALUE)
  SERVER shard2 OPTIONS (table_name 'items');
-- the queries: rows of items moved by a little noise, the same for every system
SELECT setseed(0.42);
CREATE TABLE bench_queries AS
  SELECT row_number() OVER (ORDER BY id)::int AS qid,
         (SELECT array_agg(x + (random() - 0.5) * 0.02) FROM unnest(embedding::real[]) x)::vector($dim) AS embedding
  FROM items WHERE id % ($n / 1000) = 7 LIMIT 1000;
CREATE UNIQUE INDEX ON bench_queries (qid);
ANALYZE bench_queries;
SQL

q="(SELECT embedding FROM bench_queries WHERE qid = :q)"
declare -A forms=(
    [single]="SELECT id FROM items ORDER BY embedding <-> $q LIMIT 10;"
    [sharded_parent]="SELECT id FROM items_sharded ORDER BY embedding <-> $q LIMIT 10;"
    [sharded_union]="WITH u AS MATERIALIZED ((SELECT id, embedding <-> $q AS d FROM items_shard1 ORDER BY 2 LIMIT 10) UNION ALL (SELECT id, embedding <-> $q AS d FROM items_shard2 ORDER BY 2 LIMIT 10)) SELECT id FROM u ORDER BY d LIMIT 10;"
)

# Recall@10 on 50 queries, each form against a sequential scan of items.
recall() {  # TABLE-FORM (a query with %L for the vector)
    "${main[@]}" -tAc "DO \$\$
DECLARE r record; e int[]; g int[]; hits int := 0;
BEGIN
  FOR r IN SELECT embedding FROM bench_queries WHERE qid <= 50 LOOP
    SET LOCAL enable_indexscan = off;
    EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY embedding <-> %L::vector LIMIT 10) s', r.embedding) INTO e;
    SET LOCAL enable_indexscan = on;
    EXECUTE format('SELECT array_agg(id) FROM ($1) s', r.embedding) INTO g;
    hits := hits + (SELECT count(*) FROM unnest(g) x WHERE x = ANY (e));
  END LOOP;
  RAISE NOTICE 'recall %', round(hits / 500.0, 3);
END \$\$" 2>&1 | sed -n 's/.*recall //p'
}
declare -A recall_form=(
    [single]="SELECT id FROM items ORDER BY embedding <-> %L::vector LIMIT 10"
    [sharded_parent]="SELECT id FROM items_sharded ORDER BY embedding <-> %L::vector LIMIT 10"
    [sharded_union]="WITH u AS MATERIALIZED ((SELECT id, embedding <-> %1\$L::vector AS d FROM items_shard1 ORDER BY 2 LIMIT 10) UNION ALL (SELECT id, embedding <-> %1\$L::vector AS d FROM items_shard2 ORDER BY 2 LIMIT 10)) SELECT id FROM u ORDER BY d LIMIT 10"
)

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
printf '%-16s %8s %8s %10s %10s %10s\n' system clients recall qps p50_ms p99_ms
for form in single sharded_parent sharded_union; do
    r=$(recall "${recall_form[$form]}")
    printf '\\set q random(1, 1000)\n%s\n' "${forms[$form]}" >"$work/$form.sql"
    for c in 1 2; do
        rm -f "$work"/pgbench_log.*
        (cd "$work" && as_owner env PGOPTIONS="-c kyrodb.cache=off" "$PG_BIN/pgbench" -n -M prepared -h "$sock" -p "$port" -U "$owner" -c "$c" -j "$c" \
            -T "$seconds" -l -f "$work/$form.sql" bench >"$work/pgbench.out" 2>&1) ||
            { cat "$work/pgbench.out"; exit 1; }
        qps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.out" | head -n 1)
        read -r p50 p99 < <(cat "$work"/pgbench_log.* | awk '{print $3}' | sort -n |
            awk '{a[NR] = $1} END {printf "%.3f %.3f\n", a[int(NR * 0.5)] / 1000, a[int(NR * 0.99)] / 1000}')
        printf '%-16s %8s %8s %10.0f %10s %10s\n' "$form" "$c" "$r" "$qps" "$p50" "$p99"
        for fig in "qps:$qps" "p50_ms:$p50" "p99_ms:$p99" "recall_at_10:$r"; do
            echo "{\"dataset\": \"items\", \"n\": $n, \"phase\": \"sharding\", \"system\": \"$form\", \"ef_search\": 40, \"connections\": $c, \"figure\": \"${fig%%:*}\", \"value\": ${fig#*:}, \"commit\": \"$commit\"}" >>"$out/results.jsonl"
        done
    done
done
"${main[@]}" -c "DROP TABLE items_sharded, bench_queries" -c "DROP SERVER shard1, shard2 CASCADE"
