#!/usr/bin/env bash
# make demo: install what is missing, build, start a local PostgreSQL with
# kyrodb preloaded (data under .demo/), load 778 real MiniLM sentence
# embeddings with their texts, and show nearest-neighbour queries.
# make stop (demo.sh stop) stops that server.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
. test/scripts/common.sh

port=${DEMO_PORT:-5433}
demo=$repo/.demo

if [ "${1:-}" = stop ]; then
    if [ -d "$demo/data" ]; then
        cluster_stop "$demo/data"
        echo "kyrodb demo server stopped (data kept in $demo; delete it to start afresh)"
    else
        echo "no demo server here"
    fi
    exit 0
fi

bash test/scripts/deps.sh demo
make -s -j2 >/dev/null
$SUDO make -s install >/dev/null
bash bench/datasets.sh minilm

owner=$(pg_owner)
mkdir -p "$demo"
[ "$(id -u)" -eq 0 ] && chown "$owner" "$demo"
if ! as_owner test -w "$demo"; then
    echo "the server's OS user '$owner' cannot write $demo (is the checkout under a private home folder?)" >&2
    echo "move the checkout somewhere '$owner' can reach, e.g. /srv or /work" >&2
    exit 1
fi
# Unix socket paths are limited to 107 bytes.
sock=$demo
[ ${#sock} -gt 80 ] && sock=$(mktemp -d /tmp/kyrodb-demo.XXXXXX) && chown "$owner" "$sock" 2>/dev/null || true

if [ ! -f "$demo/data/PG_VERSION" ]; then
    cluster_init "$demo/data" "$sock" "$port"
fi
if ! as_owner "$PG_BIN/pg_ctl" -D "$demo/data" status >/dev/null 2>&1; then
    cluster_start "$demo/data" "$demo/server.log"
fi
sock=$(sed -n "s/^unix_socket_directories = '\(.*\)'/\1/p" "$demo/data/postgresql.conf" | tail -n 1)
psql=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U "$owner")

"${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'kyrodb'" | grep -q 1 ||
    "${psql[@]}" -d postgres -c "CREATE DATABASE kyrodb"

"${psql[@]}" -d kyrodb <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS docs;
DROP EXTENSION IF EXISTS kyrodb;
CREATE EXTENSION kyrodb;
CREATE TABLE docs (id bigint PRIMARY KEY, title text, category text, body text, embedding vector(384));
\copy docs FROM '$repo/.data/minilm-384/docs.copy'
CREATE INDEX docs_embedding_idx ON docs USING kyrodb (embedding vector_cosine_ops);
ANALYZE docs;
SQL

"${psql[@]}" -d kyrodb -P pager=off -f test/scripts/demo.sql

cat <<MSG

The kyrodb demo server is running (data in $demo/data, log in $demo/server.log).
Connect:  $PG_BIN/psql -h $sock -p $port -U $owner kyrodb
Stop:     make stop
MSG
