-- Ordered index scans return what a sequential scan returns.
CREATE TABLE items (id int PRIMARY KEY, category int, v vector(16));
INSERT INTO items
SELECT i, i % 10, (SELECT array_agg(sin(i * 0.37 + j * 1.3) + cos(i * 0.011 * j)) FROM generate_series(1, 16) j)::vector
  FROM generate_series(1, 2000) i;
CREATE TABLE queries AS SELECT id AS qid, v + ('[' || repeat('0.01,', 15) || '0.01]')::vector AS v FROM items WHERE id % 100 = 0;

-- the exact top 10 of every query, by sequential scan
CREATE FUNCTION top10(op text) RETURNS TABLE (qid int, ids int[]) LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT q.qid, ARRAY(SELECT i.id FROM items i ORDER BY i.v %s q.v, i.id LIMIT 10) FROM queries q', op);
END $$;
CREATE FUNCTION matches(op text) RETURNS TABLE (exact_lists int, mean_recall numeric) LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL enable_indexscan = off;
  CREATE TEMP TABLE truth AS SELECT * FROM top10(op);
  SET LOCAL enable_indexscan = on;
  SET LOCAL enable_seqscan = off;
  SET LOCAL enable_sort = off;
  CREATE TEMP TABLE got AS SELECT * FROM top10(op);
  RETURN QUERY
    SELECT count(*) FILTER (WHERE t.ids = g.ids)::int,
           round(avg((SELECT count(*) FROM unnest(g.ids) x WHERE x = ANY (t.ids)) / 10.0), 2)
      FROM truth t JOIN got g USING (qid);
  DROP TABLE truth, got;
END $$;

CREATE INDEX items_l2 ON items USING kyrodb (v vector_l2_ops);
CREATE INDEX items_ip ON items USING kyrodb (v vector_ip_ops);
CREATE INDEX items_cos ON items USING kyrodb (v vector_cosine_ops);

SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <#> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <=> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 5;
RESET enable_seqscan;

-- a beam wider than each segment is an exact search: identical lists
SET kyrodb.ef_search = 1000;
SELECT * FROM matches('<->');
SELECT * FROM matches('<#>');
SELECT * FROM matches('<=>');
-- kyrodb.exact_search compares the query with every indexed vector
RESET kyrodb.ef_search;
SET kyrodb.exact_search = on;
SELECT * FROM matches('<->');
SELECT * FROM matches('<=>');
RESET kyrodb.exact_search;
-- at the default width the lists are (nearly) the exact ones
RESET kyrodb.ef_search;
SELECT mean_recall >= 0.95 AS recall_ok FROM matches('<->');
SELECT mean_recall >= 0.95 AS recall_ok FROM matches('<#>');
SELECT mean_recall >= 0.95 AS recall_ok FROM matches('<=>');

-- rows come nearest first (the first stage returns about ef_search / 2 rows in exact order)
SET enable_seqscan = off;
SELECT count(*) AS out_of_order FROM (
  SELECT d, lag(d) OVER (ORDER BY n) AS prev FROM (
    SELECT row_number() OVER () AS n, d FROM (
      SELECT v <-> '[1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0]' AS d FROM items
       ORDER BY v <-> '[1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0]' LIMIT 20) a) b) c
 WHERE d < prev;

-- inserts after the build are found at once (hot tier), and after a flush (segment)
INSERT INTO items VALUES (5001, 1, '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]'), (5002, 2, '[-9,-9,-9,-9,-9,-9,-9,-9,-9,-9,-9,-9,-9,-9,-9,-9]');
SELECT id FROM items ORDER BY v <-> '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]' LIMIT 1;
SELECT id FROM items ORDER BY v <#> '[-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1]' LIMIT 1;
SELECT id FROM items ORDER BY v <=> '[-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1]' LIMIT 1;
SELECT kyrodb_flush('items_l2') AS moved;
SELECT id FROM items ORDER BY v <-> '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]' LIMIT 1;
-- an uncommitted insert is invisible to others, a rolled-back one never shows
BEGIN;
INSERT INTO items VALUES (5003, 3, '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9.5]');
SELECT id FROM items ORDER BY v <-> '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9.5]' LIMIT 1;
ROLLBACK;
SELECT id FROM items ORDER BY v <-> '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9.5]' LIMIT 1;

-- LIMIT beyond ef_search still returns LIMIT rows, all distinct
SET kyrodb.ef_search = 10;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM items ORDER BY v <-> '[1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0]' LIMIT 1500) a;
-- WHERE rejects most rows: the scan resumes until LIMIT rows match
SELECT count(*), min(category), max(category) FROM (
  SELECT id, category FROM items WHERE category = 7 ORDER BY v <-> '[1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0]' LIMIT 150) a;
SELECT count(*) FROM (SELECT id FROM items WHERE id % 1000 = 0 ORDER BY v <-> '[1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0]' LIMIT 5) a;
-- the same with the filter in the exact answer
SELECT array_agg(id) = (SELECT array_agg(id) FROM (SELECT id FROM items WHERE category = 3 ORDER BY v <-> '[1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0]' LIMIT 20) s)
  AS same_as_exact
  FROM (SELECT id FROM items WHERE category = 3 ORDER BY v <-> '[1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0]' LIMIT 20) a;
RESET kyrodb.ef_search;

-- deleted rows are never returned, before and after VACUUM
DELETE FROM items WHERE id % 3 = 0;
SELECT count(*) FILTER (WHERE id % 3 = 0) AS deleted_returned, count(*) FROM (
  SELECT id FROM items ORDER BY v <-> '[1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0]' LIMIT 1000) a;
VACUUM items;
SELECT count(*) FILTER (WHERE id % 3 = 0) AS deleted_returned, count(*) FROM (
  SELECT id FROM items ORDER BY v <-> '[1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0]' LIMIT 1000) a;
RESET enable_seqscan;
SET kyrodb.ef_search = 1000;
SELECT * FROM matches('<->');
RESET kyrodb.ef_search;

-- a TID the heap reuses after VACUUM is never ranked by the old row's vector:
-- the new rows take the old TIDs in reverse order of distance
CREATE TABLE reuse (id int, v vector(2)) WITH (autovacuum_enabled = off);
INSERT INTO reuse SELECT i, ARRAY[i, 0] FROM generate_series(1, 100) i;
CREATE INDEX reuse_idx ON reuse USING kyrodb (v);
DELETE FROM reuse;
VACUUM reuse;
INSERT INTO reuse SELECT 1000 + i, ARRAY[1101 - i, 0] FROM generate_series(1, 100) i;
SELECT count(*) AS reused_tids FROM reuse WHERE ctid IN (SELECT ('(0,' || i || ')')::tid FROM generate_series(1, 100) i);
SET enable_seqscan = off;
SELECT array_agg(id) FROM (SELECT id FROM reuse ORDER BY v <-> '[1,0]' LIMIT 3) a;
RESET enable_seqscan;
DROP TABLE reuse;

-- the same in the hot tier, with this backend's copy of it read before the
-- VACUUM (and brought up to date with rows appended since): VACUUM makes the
-- copy go, it is not ranked by the old vectors
CREATE TABLE reuse (id int, v vector(2)) WITH (autovacuum_enabled = off);
CREATE INDEX reuse_idx ON reuse USING kyrodb (v);
INSERT INTO reuse SELECT i, ARRAY[i, 0] FROM generate_series(1, 100) i;
SET enable_seqscan = off;
SELECT array_agg(id) FROM (SELECT id FROM reuse ORDER BY v <-> '[1,0]' LIMIT 3) a;
INSERT INTO reuse VALUES (101, '[0.5,0]');
SELECT array_agg(id) FROM (SELECT id FROM reuse ORDER BY v <-> '[1,0]' LIMIT 3) a;
DELETE FROM reuse;
VACUUM reuse;
INSERT INTO reuse SELECT 1000 + i, ARRAY[1101 - i, 0] FROM generate_series(1, 100) i;
SELECT count(*) AS reused_tids FROM reuse WHERE ctid IN (SELECT ('(0,' || i || ')')::tid FROM generate_series(1, 100) i);
SELECT array_agg(id) FROM (SELECT id FROM reuse ORDER BY v <-> '[1,0]' LIMIT 3) a;
SELECT segments, hot_rows FROM kyrodb_index_stats('reuse_idx');
-- a hot tier larger than a connection may copy (an eighth of
-- kyrodb.max_local_memory) is read from pages, with the same answer
SET kyrodb.max_local_memory = 0;
SELECT array_agg(id) FROM (SELECT id FROM reuse ORDER BY v <-> '[1,0]' LIMIT 3) a;
RESET kyrodb.max_local_memory;
RESET enable_seqscan;
DROP TABLE reuse;

-- a flush that moved part of the hot tier (one segment of
-- maintenance_work_mem, then an error) leaves the rest in this backend's
-- copy, which drops what was flushed and reads on from where it stopped:
-- answers stay those of a sequential scan, also after more inserts
CREATE TABLE partial (id int, v vector(64)) WITH (autovacuum_enabled = off);
CREATE INDEX partial_idx ON partial USING kyrodb (v);
SELECT setseed(0.25);
INSERT INTO partial SELECT i, (SELECT array_agg(random()::float4) FROM generate_series(1, 64) WHERE i > 0)
  FROM generate_series(1, 3000) i;
CREATE TABLE probes AS SELECT id, v FROM partial WHERE id % 300 = 0;
SET kyrodb.exact_search = on;
SET enable_seqscan = off;
SELECT count(*) AS probes FROM probes p,
  LATERAL (SELECT array_agg(id) ids FROM (SELECT id FROM partial ORDER BY v <-> p.v LIMIT 10) a) x;
SET maintenance_work_mem = '1MB';
SET kyrodb.crash_point = 'flush.published';
SELECT kyrodb_flush('partial_idx');
RESET kyrodb.crash_point;
RESET maintenance_work_mem;
SELECT segments, hot_rows BETWEEN 1 AND 2999 AS part_flushed FROM kyrodb_index_stats('partial_idx');
CREATE TEMP TABLE by_index AS SELECT p.id probe, x.ids FROM probes p,
  LATERAL (SELECT array_agg(id) ids FROM (SELECT id FROM partial ORDER BY v <-> p.v LIMIT 10) a) x;
INSERT INTO partial SELECT 3000 + id, (SELECT array_agg(x + 0.001) FROM unnest(v::float4[]) x) FROM probes;
CREATE TEMP TABLE by_index_more AS SELECT p.id probe, x.ids FROM probes p,
  LATERAL (SELECT array_agg(id) ids FROM (SELECT id FROM partial ORDER BY v <-> p.v LIMIT 10) a) x;
RESET enable_seqscan;
SET enable_indexscan = off;
CREATE TEMP TABLE by_seq_more AS SELECT p.id probe, x.ids FROM probes p,
  LATERAL (SELECT array_agg(id) ids FROM (SELECT id FROM partial ORDER BY v <-> p.v LIMIT 10) a) x;
DELETE FROM partial WHERE id > 3000;
CREATE TEMP TABLE by_seq AS SELECT p.id probe, x.ids FROM probes p,
  LATERAL (SELECT array_agg(id) ids FROM (SELECT id FROM partial ORDER BY v <-> p.v LIMIT 10) a) x;
RESET enable_indexscan;
RESET kyrodb.exact_search;
SELECT count(*) AS probes, count(*) FILTER (WHERE s.ids = i.ids) AS same FROM by_seq s JOIN by_index i USING (probe);
SELECT count(*) AS probes, count(*) FILTER (WHERE s.ids = i.ids) AS same,
       count(*) FILTER (WHERE s.ids[1] = s.probe AND s.ids[2] = s.probe + 3000) AS copy_found
  FROM by_seq_more s JOIN by_index_more i USING (probe);
DROP TABLE partial, probes;

-- open scans keep the hot-tier rows they started from while later scans
-- bring this backend's copy up to date (new rows) and make it drop rows (a
-- flush of part of the hot tier): each open scan goes on in the order of a
-- sequential scan over the rows it sees
CREATE TABLE held (id int, v vector(64)) WITH (autovacuum_enabled = off);
CREATE INDEX held_idx ON held USING kyrodb (v);
SELECT setseed(0.5);
INSERT INTO held SELECT i, (SELECT array_agg(random()::float4) FROM generate_series(1, 64) WHERE i > 0)
  FROM generate_series(1, 3000) i;
CREATE TABLE held_q AS SELECT v FROM held WHERE id = 1;
SET enable_seqscan = off;
BEGIN;
DECLARE first CURSOR FOR SELECT id FROM held ORDER BY v <-> (SELECT v FROM held_q);
FETCH 3 FROM first;
INSERT INTO held SELECT 3000 + i, (SELECT array_agg(random()::float4) FROM generate_series(1, 64) WHERE i > 0)
  FROM generate_series(1, 500) i;
DECLARE second CURSOR FOR SELECT id FROM held ORDER BY v <-> (SELECT v FROM held_q);
FETCH 3 FROM second;
SAVEPOINT s;
SET LOCAL maintenance_work_mem = '1MB';
SET LOCAL kyrodb.crash_point = 'flush.published';
SELECT kyrodb_flush('held_idx');
ROLLBACK TO SAVEPOINT s;
SELECT segments, hot_rows BETWEEN 1 AND 3499 AS part_flushed FROM kyrodb_index_stats('held_idx');
SET LOCAL kyrodb.exact_search = on;
SELECT array_agg(id) FROM (SELECT id FROM held ORDER BY v <-> (SELECT v FROM held_q) LIMIT 5) a;
FETCH 7 FROM first;
FETCH 7 FROM second;
COMMIT;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT array_agg(id) FROM (SELECT id FROM held WHERE id <= 3000 ORDER BY v <-> (SELECT v FROM held_q) LIMIT 10) a;
SELECT array_agg(id) FROM (SELECT id FROM held ORDER BY v <-> (SELECT v FROM held_q) LIMIT 10) a;
RESET enable_indexscan;
DROP TABLE held, held_q;

-- inserts are buffered per connection and appended in batches: a scan of
-- the index in the same transaction sees them, an abort drops them, and
-- rows of earlier statements survive an append that fails in a
-- subtransaction (the commit appends them)
CREATE TABLE buffered (id int, v vector(2)) WITH (autovacuum_enabled = off);
CREATE INDEX buffered_idx ON buffered USING kyrodb (v);
SET enable_seqscan = off;
BEGIN;
INSERT INTO buffered SELECT i, ARRAY[i, 0] FROM generate_series(1, 10) i;
SELECT array_agg(id) FROM (SELECT id FROM buffered ORDER BY v <-> '[3,0]' LIMIT 3) a;
ROLLBACK;
SELECT count(*) AS after_rollback FROM (SELECT id FROM buffered ORDER BY v <-> '[3,0]' LIMIT 3) a;
BEGIN;
INSERT INTO buffered SELECT i, ARRAY[i, 0] FROM generate_series(1, 10) i;
SAVEPOINT s;
SET LOCAL kyrodb.crash_point = 'insert.append';
INSERT INTO buffered SELECT i, ARRAY[i, 0] FROM generate_series(11, 5000) i;
ROLLBACK TO SAVEPOINT s;
INSERT INTO buffered VALUES (11, '[11,0]');
COMMIT;
SELECT array_agg(id) FROM (SELECT id FROM buffered ORDER BY v <-> '[12,0]' LIMIT 3) a;
SELECT kyrodb_verify_index('buffered_idx', true);
-- a statement of many batches, and a two-row statement after it, all found
INSERT INTO buffered SELECT i, ARRAY[i, 1] FROM generate_series(100, 2099) i;
INSERT INTO buffered VALUES (3000, '[3000,0]'), (3001, '[3001,0]');
SET kyrodb.exact_search = on;
SELECT count(*) AS all_found FROM (SELECT id FROM buffered ORDER BY v <-> '[0,0]' LIMIT 10000) a;
RESET kyrodb.exact_search;
SELECT kyrodb_verify_index('buffered_idx', true);
RESET enable_seqscan;
DROP TABLE buffered;

-- NULL vectors are not indexed; zero vectors are, except under cosine
INSERT INTO items VALUES (6001, 0, NULL), (6002, 0, '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]');
SET enable_seqscan = off;
SELECT id FROM items ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 1;
SELECT count(*) FILTER (WHERE id = 6002) AS zero_vector_rows, count(*) FILTER (WHERE id = 6001) AS null_rows
  FROM (SELECT id FROM items ORDER BY v <=> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 5000) a;
-- a NULL query orders nothing, but returns the rows it is asked for
SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> NULL LIMIT 100) a;
-- a query of the wrong dimension
SELECT id FROM items ORDER BY v <-> '[1,2,3]' LIMIT 1;
RESET enable_seqscan;

-- vectors wider than a page are indexed (elements cross page boundaries)
CREATE TABLE wide (id int, v vector(16000));
INSERT INTO wide SELECT i, array_fill(i::real, ARRAY[16000])::vector FROM generate_series(1, 20) i;
CREATE INDEX ON wide USING kyrodb (v);
INSERT INTO wide SELECT i, array_fill(i::real, ARRAY[16000])::vector FROM generate_series(21, 25) i;
SET enable_seqscan = off;
SELECT id FROM wide ORDER BY v <-> array_fill(22.2::real, ARRAY[16000])::vector LIMIT 3;
SELECT id FROM wide ORDER BY v <-> array_fill(7.9::real, ARRAY[16000])::vector LIMIT 3;
SELECT kyrodb_flush('wide_v_idx');
SELECT id FROM wide ORDER BY v <-> array_fill(22.2::real, ARRAY[16000])::vector LIMIT 3;
RESET enable_seqscan;
DROP TABLE wide;

DROP TABLE items, queries;

-- the hot tier's first pass on codes leaves every operator's answer that of
-- a sequential scan (rows inserted after CREATE INDEX, none flushed)
CREATE TABLE items (id int PRIMARY KEY, category int, v vector(16));
CREATE INDEX items_l2 ON items USING kyrodb (v vector_l2_ops);
CREATE INDEX items_ip ON items USING kyrodb (v vector_ip_ops);
CREATE INDEX items_cos ON items USING kyrodb (v vector_cosine_ops);
INSERT INTO items
SELECT i, i % 10, (SELECT array_agg(sin(i * 0.37 + j * 1.3) + cos(i * 0.011 * j)) FROM generate_series(1, 16) j)::vector
  FROM generate_series(1, 2000) i;
CREATE TABLE queries AS SELECT id AS qid, v + ('[' || repeat('0.01,', 15) || '0.01]')::vector AS v FROM items WHERE id % 100 = 0;
SELECT segments, hot_rows FROM kyrodb_index_stats('items_cos');
SELECT * FROM matches('<->');
SELECT * FROM matches('<#>');
SELECT * FROM matches('<=>');
DROP TABLE items, queries;
DROP FUNCTION matches, top10;
