#!/usr/bin/env bash
# What one cheap query costs besides its graph walk (issue 10, part 7):
#   bash bench/fixed_cost.sh SOCKET_DIR PORT OUT_DIR [ROUNDS]
# On the server at SOCKET_DIR:PORT, 100,000 x 100 synthetic vectors (the
# DATA.md recipe, seed 11; 1,000 queries, seed 12) get a kyrodb index on
# (embedding, id), which answers `SELECT id ... ORDER BY embedding <-> q
# LIMIT 10` by an index-only scan, and, when pgvector's `vector` extension is
# installed, the same rows in a second database get pgvector's HNSW index
# (m 16, ef_construction 64 for both). At ef_search 20, in alternating rounds:
# server-side microseconds per query (a PL/pgSQL loop: no client round trip),
# queries per second through pgbench (one connection, prepared), for the
# index-only scan, the index scan with heap fetches (enable_indexonlyscan
# off), pgvector, and a primary-key lookup (Postgres's floor); then result
# cache hits, with and without heap fetches. Recall@10 against a sequential
# scan. Appends the medians as JSON lines to OUT_DIR/results.jsonl, every
# round to OUT_DIR/fixed-rounds.txt, and prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/scripts/common.sh

sock=$1 port=$2 out=$3 rounds=${4:-5}
owner=$(pg_owner)
psql=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U "$owner")
pgbench=("$PG_BIN/pgbench" -h "$sock" -p "$port" -U "$owner" -n -M prepared -T 6)
make -s build/datagen >/dev/null
mkdir -p "$out"
work=$(mktemp -d /tmp/kyrodb-fixed.XXXXXX)
trap 'rm -rf "$work"' EXIT
build/datagen synthetic 100000 100 11 >"$work/base.txt"
build/datagen synthetic 1000 100 12 >"$work/queries.txt"

# Loops measured on the server, the same SQL for both extensions.
cat >"$work/functions.sql" <<'SQL'
CREATE TABLE items (id int8 PRIMARY KEY, embedding vector(100));
CREATE TABLE queries (id int PRIMARY KEY, embedding vector(100));
CREATE TABLE truth (qid int PRIMARY KEY, ids int8[]);
-- microseconds per query over n queries cycling through the first `distinct`
-- of the 1,000, after one untimed pass over those (with few, result cache hits)
CREATE FUNCTION knn_loop(n int, distinct_queries int) RETURNS float LANGUAGE plpgsql AS $$
DECLARE qs vector[]; t0 timestamptz; x int8[];
BEGIN
  SELECT array_agg(embedding ORDER BY id) INTO qs FROM queries WHERE id <= distinct_queries;
  FOR i IN 1..distinct_queries LOOP
    SELECT array_agg(id) INTO x FROM (SELECT id FROM items ORDER BY embedding <-> qs[i] LIMIT 10) s;
  END LOOP;
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP
    SELECT array_agg(id) INTO x FROM (SELECT id FROM items ORDER BY embedding <-> qs[1 + (i - 1) % distinct_queries] LIMIT 10) s;
  END LOOP;
  RETURN round((extract(epoch FROM clock_timestamp() - t0) * 1e6 / n)::numeric, 1);
END $$;
CREATE FUNCTION pk_loop(n int) RETURNS float LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; x int8;
BEGIN
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP
    SELECT id INTO x FROM items WHERE id = 1 + (i * 7919) % 100000;
  END LOOP;
  RETURN round((extract(epoch FROM clock_timestamp() - t0) * 1e6 / n)::numeric, 1);
END $$;
CREATE FUNCTION recall10() RETURNS float LANGUAGE plpgsql AS $$
DECLARE hit int := 0; x int8[]; r record;
BEGIN
  FOR r IN SELECT q.id, q.embedding, t.ids FROM queries q JOIN truth t ON t.qid = q.id LOOP
    SELECT array_agg(id) INTO x FROM (SELECT id FROM items ORDER BY embedding <-> r.embedding LIMIT 10) s;
    hit := hit + (SELECT count(*) FROM unnest(x) a WHERE a = ANY (r.ids));
  END LOOP;
  RETURN hit::float / (10 * (SELECT count(*) FROM truth));
END $$;
SQL
printf '%s\n' '\set q random(1, 1000)' \
    'SELECT id FROM items ORDER BY embedding <-> (SELECT embedding FROM queries WHERE id = :q) LIMIT 10;' >"$work/knn.pgb"
printf '%s\n' '\set q random(1, 100000)' 'SELECT id FROM items WHERE id = :q;' >"$work/pk.pgb"

load() {  # DATABASE EXTENSION INDEX-SQL
    "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
    "${psql[@]}" -d "$1" -c "CREATE EXTENSION $2" -f "$work/functions.sql" \
        -c "\\copy items FROM '$work/base.txt'" -c "\\copy queries FROM '$work/queries.txt'"
    local t0
    t0=$(date +%s.%N)
    "${psql[@]}" -d "$1" -c "$3" -c "VACUUM ANALYZE items" -c "VACUUM ANALYZE queries"
    echo "$1: index built in $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"
}
echo "== fixed cost: 100,000 x 100 synthetic, ef_search 20"
load fixed_kyrodb kyrodb "CREATE INDEX items_idx ON items USING kyrodb (embedding, id)"
"${psql[@]}" -d fixed_kyrodb -c "SET enable_indexscan = off" -c "SET enable_indexonlyscan = off" \
    -c "INSERT INTO truth SELECT q.id, (SELECT array_agg(id) FROM (SELECT id FROM items
          ORDER BY embedding <-> q.embedding LIMIT 10) s) FROM queries q" -c "\\copy truth TO '$work/truth.txt'"
systems="index-only index-scan"
if [ -n "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")" ]; then
    load fixed_pgvector vector "CREATE INDEX items_idx ON items USING hnsw (embedding vector_l2_ops)"
    "${psql[@]}" -d fixed_pgvector -c "\\copy truth FROM '$work/truth.txt'"
    systems="$systems pgvector"
else
    echo "pgvector is not installed: kyrodb only"
fi
systems="$systems floor"

settings() {  # SYSTEM: database and PGOPTIONS
    case $1 in
        index-only) echo "fixed_kyrodb|-c kyrodb.cache=off -c kyrodb.ef_search=20" ;;
        index-scan) echo "fixed_kyrodb|-c kyrodb.cache=off -c kyrodb.ef_search=20 -c enable_indexonlyscan=off" ;;
        pgvector) echo "fixed_pgvector|-c hnsw.ef_search=20" ;;
        floor) echo "fixed_kyrodb|" ;;
        hit-index-only) echo "fixed_kyrodb|-c kyrodb.cache=on -c kyrodb.ef_search=20" ;;
        hit-index-scan) echo "fixed_kyrodb|-c kyrodb.cache=on -c kyrodb.ef_search=20 -c enable_indexonlyscan=off" ;;
    esac
}
: >"$out/fixed-rounds.txt"
for s in index-only pgvector; do
    case " $systems " in *" $s "*) ;; *) continue ;; esac
    IFS='|' read -r db opts <<<"$(settings $s)"
    echo "$s recall@10 $(PGOPTIONS="$opts" "${psql[@]}" -d "$db" -tAc "SELECT recall10()")" >>"$out/fixed-rounds.txt"
done
for r in $(seq 1 "$rounds"); do
    for s in $systems hit-index-only hit-index-scan; do
        IFS='|' read -r db opts <<<"$(settings $s)"
        case $s in
            floor) loop='pk_loop(N)' script=pk.pgb ;;
            hit-*) loop='knn_loop(N, 10)' script= ;;
            *) loop='knn_loop(N, 1000)' script=knn.pgb ;;
        esac
        us=$(PGOPTIONS="$opts" "${psql[@]}" -d "$db" -tA -c "SELECT ${loop/N/2000}" -c "SELECT ${loop/N/15000}" |
            tail -n 1)
        echo "$s server_us $us" >>"$out/fixed-rounds.txt"
        if [ -n "$script" ]; then
            qps=$(PGOPTIONS="$opts" "${pgbench[@]}" -f "$work/$script" "$db" 2>&1 | awk '/^tps/ {printf "%.0f", $3}')
            echo "$s client_qps $qps" >>"$out/fixed-rounds.txt"
        fi
    done
done
# medians (of every round) to results.jsonl, and a table
perl -e '
use strict; use warnings;
my ($out) = @ARGV;
my (%v, @order);
open my $in, "<", "$out/fixed-rounds.txt" or die;
while (<$in>) {
    my ($s, $f, $x) = split;
    push @order, "$s $f" unless $v{"$s $f"};
    push @{$v{"$s $f"}}, $x;
}
sub median { my @s = sort { $a <=> $b } @_; @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2 }
open my $json, ">>", "$out/results.jsonl" or die;
printf "%-16s %-10s %10s  %s\n", "system", "figure", "median", "rounds";
for my $k (@order) {
    my ($s, $f) = split / /, $k;
    my $m = median(@{$v{$k}});
    printf "%-16s %-10s %10s  %s\n", $s, $f, $m, join(" ", @{$v{$k}});
    printf $json "{\"dataset\": \"synthetic\", \"n\": 100000, \"dim\": 100, \"metric\": \"l2\", \"phase\": \"fixed\", \"system\": \"%s\", "
        . "\"ef_search\": 20, \"connections\": 1, \"figure\": \"%s\", \"value\": %s}\n", $s, $f, $m;
}' "$out"
