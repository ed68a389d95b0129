-- CREATE INDEX ... USING kyrodb: options, errors, and the DDL around it.
CREATE TABLE items (id int PRIMARY KEY, category int, v vector(3));
INSERT INTO items SELECT i, i % 5, ARRAY[sin(i), cos(i), sin(i * 0.3)] FROM generate_series(1, 300) i;

CREATE INDEX items_l2 ON items USING kyrodb (v vector_l2_ops);
CREATE INDEX items_default ON items USING kyrodb (v);
CREATE INDEX items_ip ON items USING kyrodb (v vector_ip_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX items_cos ON items USING kyrodb (v vector_cosine_ops) WITH (m = 100, ef_construction = 1000);
SELECT c.relname, a.amname, array_to_string(c.reloptions, ',') AS options
  FROM pg_class c JOIN pg_am a ON a.oid = c.relam
 WHERE c.relname LIKE 'items\_%' ORDER BY 1;
DROP INDEX items_default, items_ip, items_cos;

-- a build that does not fit maintenance_work_mem writes several segments
CREATE TABLE big (id int, v vector(64));
INSERT INTO big SELECT i, (SELECT array_agg(sin(i * j)) FROM generate_series(1, 64) j)::vector FROM generate_series(1, 3000) i;
SET maintenance_work_mem = '1MB';
CREATE INDEX big_idx ON big USING kyrodb (v);
RESET maintenance_work_mem;
SELECT segments > 1 AS several_segments, elements FROM kyrodb_index_stats('big_idx');
SET enable_seqscan = off;
SET kyrodb.exact_search = on;
SELECT array_agg(id) AS nearest FROM (SELECT id FROM big ORDER BY v <-> (SELECT v FROM big WHERE id = 77) LIMIT 3) a;
RESET kyrodb.exact_search;
RESET enable_seqscan;
SELECT array_agg(id) AS nearest FROM (SELECT id FROM big ORDER BY v <-> (SELECT v FROM big WHERE id = 77) LIMIT 3) a;
DROP TABLE big;

-- option errors
CREATE INDEX ON items USING kyrodb (v) WITH (m = 1);
CREATE INDEX ON items USING kyrodb (v) WITH (m = 101);
CREATE INDEX ON items USING kyrodb (v) WITH (ef_construction = 3);
CREATE INDEX ON items USING kyrodb (v) WITH (ef_construction = 1001);
CREATE INDEX ON items USING kyrodb (v) WITH (m = 16, ef_construction = 31);
CREATE INDEX ON items USING kyrodb (v) WITH (lists = 3);
CREATE INDEX ON items USING kyrodb (v) WITH (m = 'x');
-- what it cannot index
CREATE TABLE nodims (v vector);
CREATE INDEX ON nodims USING kyrodb (v);
DROP TABLE nodims;
CREATE INDEX ON items USING kyrodb (category);
-- filter columns come after the vector (index_filter tests them)
CREATE INDEX ON items USING kyrodb (v, category);
DROP INDEX items_v_category_idx;
CREATE INDEX ON items USING kyrodb (v vector_ops);
CREATE UNIQUE INDEX ON items USING kyrodb (v);

-- the wrong dimension on insert names both
CREATE TABLE loose (v vector);
INSERT INTO loose VALUES ('[1,2,3]');
CREATE INDEX loose_idx ON loose USING kyrodb ((v::vector(3)));
INSERT INTO loose VALUES ('[1,2]');
DROP TABLE loose;

-- the index answers only ORDER BY distance
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> '[1,0,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE v = '[1,0,0]';
RESET enable_seqscan;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> '[1,0,0]' LIMIT 5;
-- a LIMIT beyond kyrodb.max_scan_tuples still uses it (index_plans: the answers)
SET kyrodb.max_scan_tuples = 100;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> '[1,0,0]' LIMIT 101;
RESET kyrodb.max_scan_tuples;
-- an operator of another opclass does not use it
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <#> '[1,0,0]' LIMIT 5;

-- GUCs
SHOW kyrodb.ef_search;
SHOW kyrodb.max_scan_tuples;
SHOW kyrodb.flush_threshold;
SHOW kyrodb.exact_search;
SET kyrodb.ef_search = 0;
SET kyrodb.ef_search = 1001;
SET kyrodb.max_scan_tuples = 0;
SET kyrodb.flush_threshold = 0;
SET kyrodb.no_such_setting = 1;
-- a server setting (postgresql.conf or ALTER SYSTEM), bounds checked either way
SET kyrodb.prewarm_workers = 1;
ALTER SYSTEM SET kyrodb.prewarm_workers = 0;
ALTER SYSTEM SET kyrodb.prewarm_workers = 65;
SHOW kyrodb.prewarm_workers;

-- kyrodb_flush and kyrodb_index_stats
SELECT segments, elements, tombstones, hot_rows FROM kyrodb_index_stats('items_l2');
SELECT kyrodb_flush('items_l2');
INSERT INTO items VALUES (1001, 0, '[0.5,0.5,0.5]'), (1002, 0, NULL);
SELECT segments, elements, tombstones, hot_rows FROM kyrodb_index_stats('items_l2');
SELECT kyrodb_flush('items_l2');
SELECT segments, elements, tombstones, hot_rows FROM kyrodb_index_stats('items_l2');
DELETE FROM items WHERE id <= 100;
VACUUM items;
SELECT segments, elements, tombstones, hot_rows FROM kyrodb_index_stats('items_l2');
-- VACUUM flushes a hot tier larger than kyrodb.flush_threshold
INSERT INTO items SELECT i, 0, ARRAY[i, 1, 1] FROM generate_series(2001, 2005) i;
SET kyrodb.flush_threshold = 10;
VACUUM items;
SELECT hot_rows FROM kyrodb_index_stats('items_l2');
SET kyrodb.flush_threshold = 5;
VACUUM items;
SELECT hot_rows FROM kyrodb_index_stats('items_l2');
RESET kyrodb.flush_threshold;
-- a segment that is half tombstones is rewritten without them
DELETE FROM items WHERE id <= 200;
VACUUM items;
SELECT segments, elements, tombstones, hot_rows FROM kyrodb_index_stats('items_l2');
SELECT kyrodb_index_stats('items_pkey');
SELECT kyrodb_flush('items_pkey');
SELECT kyrodb_flush('items');
SELECT kyrodb_flush('no_such_index');
CREATE ROLE flush_user;
GRANT SELECT ON items TO flush_user;
SET ROLE flush_user;
SELECT kyrodb_flush('items_l2');
RESET ROLE;
SET ROLE flush_user;
SELECT kyrodb_prewarm('items_l2') AS prewarm_with_select;
RESET ROLE;
REVOKE ALL ON items FROM flush_user;
SET ROLE flush_user;
SELECT kyrodb_prewarm('items_l2');
RESET ROLE;
DROP ROLE flush_user;

-- shared memory: the pool is on (kyrodb is preloaded here); a prewarmed
-- index is searched from it, not from a copy in this connection
SELECT state, size_bytes >= 1024 * 1024 AS sized, used_bytes <= size_bytes AS fits FROM kyrodb_memory();
SELECT kyrodb_prewarm('items_l2') = segments AS all_loaded FROM kyrodb_index_stats('items_l2');
SELECT images_shared = segments AS shared, images_local, memory_bytes > 0 AS uses_memory
  FROM kyrodb_index_stats('items_l2');
SELECT kyrodb_prewarm('items_pkey');
SELECT kyrodb_prewarm(NULL);

-- pages of merged-away segments and flushed hot-tier pages are reused
CREATE TABLE recycled (id int, v vector(8));
INSERT INTO recycled SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(2 * i), sin(3 * i), cos(3 * i), i % 7, i % 11]
  FROM generate_series(1, 3000) i;
CREATE INDEX recycled_idx ON recycled USING kyrodb (v);
SELECT segments, pages, free_pages FROM kyrodb_index_stats('recycled_idx');
CREATE TEMP TABLE sizes AS SELECT 0 AS round, pages, free_pages FROM kyrodb_index_stats('recycled_idx');
-- each round replaces every row: VACUUM tombstones the old ones and rewrites
-- the emptied segment together with the new rows (a high threshold keeps the
-- background worker out of it)
SET kyrodb.flush_threshold = 1000000;
INSERT INTO recycled SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(2 * i), sin(3 * i), cos(3 * i), i % 7, i % 11]
  FROM generate_series(3001, 6000) i;
DELETE FROM recycled WHERE id <= 3000;
VACUUM recycled;
INSERT INTO sizes SELECT 1, pages, free_pages FROM kyrodb_index_stats('recycled_idx');
INSERT INTO recycled SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(2 * i), sin(3 * i), cos(3 * i), i % 7, i % 11]
  FROM generate_series(6001, 9000) i;
DELETE FROM recycled WHERE id <= 6000;
VACUUM recycled;
INSERT INTO sizes SELECT 2, pages, free_pages FROM kyrodb_index_stats('recycled_idx');
INSERT INTO recycled SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(2 * i), sin(3 * i), cos(3 * i), i % 7, i % 11]
  FROM generate_series(9001, 12000) i;
DELETE FROM recycled WHERE id <= 9000;
VACUUM recycled;
INSERT INTO sizes SELECT 3, pages, free_pages FROM kyrodb_index_stats('recycled_idx');
INSERT INTO recycled SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(2 * i), sin(3 * i), cos(3 * i), i % 7, i % 11]
  FROM generate_series(12001, 15000) i;
DELETE FROM recycled WHERE id <= 12000;
VACUUM recycled;
INSERT INTO sizes SELECT 4, pages, free_pages FROM kyrodb_index_stats('recycled_idx');
RESET kyrodb.flush_threshold;
-- the first merge frees pages; later rounds reuse them instead of growing
SELECT round, free_pages > 0 AS has_free, pages <= (SELECT pages FROM sizes WHERE round = 2) AS no_growth
  FROM sizes ORDER BY round;
SELECT count(*) AS rows_found FROM (SELECT id FROM recycled ORDER BY v <-> '[0,1,0,1,0,1,0,0]' LIMIT 5000) a;
DROP TABLE recycled;

-- CONCURRENTLY, REINDEX, TRUNCATE, DROP
CREATE INDEX CONCURRENTLY items_conc ON items USING kyrodb (v vector_cosine_ops);
SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_conc'::regclass;
REINDEX INDEX items_l2;
REINDEX INDEX CONCURRENTLY items_conc;
SET enable_seqscan = off;
SELECT id FROM items ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 1;
SELECT id FROM items ORDER BY v <=> '[0.5,0.5,0.5]' LIMIT 1;
TRUNCATE items;
SELECT id FROM items ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 1;
INSERT INTO items VALUES (1, 0, '[1,1,1]');
SELECT id FROM items ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 1;
RESET enable_seqscan;
DROP INDEX items_l2;
DROP TABLE items;
