-- kyrodb.hot_tier_limit: past it, an insert waits for the background flush,
-- so a statement inserting faster than graphs are built leaves the hot tier
-- near the limit instead of holding every row it inserted.
SET kyrodb.flush_threshold = 100;
SET kyrodb.flush_threshold_size = '64kB';
SET kyrodb.hot_tier_limit = '256kB';  -- 512 rows of 128 dimensions
CREATE TABLE bp (id int PRIMARY KEY, v vector(128));
CREATE INDEX bp_idx ON bp USING kyrodb (v);
-- 20,000 rows take far longer to build into graphs than to insert
BEGIN;
INSERT INTO bp SELECT i, (SELECT array_agg(sin(i * 0.37 + d * 1.3)) FROM generate_series(1, 128) d)::vector
FROM generate_series(1, 20000) i;
-- this transaction's rows are appended before the stats are read
SELECT hot_rows < 1024 AS near_the_limit FROM kyrodb_index_stats('bp_idx');
COMMIT;
-- every row is in the index: the exact scan through it finds them all
SET kyrodb.exact_search = on;
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM bp ORDER BY v <-> (SELECT v FROM bp WHERE id = 1) LIMIT 30000) a;
RESET kyrodb.exact_search;
RESET enable_seqscan;
SELECT * FROM kyrodb_verify_index('bp_idx', true);

-- An index created in this transaction is invisible to the flush worker:
-- the insert does not wait for it (it would give up only after a stall).
BEGIN;
CREATE TABLE bp2 (id int, v vector(128));
CREATE INDEX bp2_idx ON bp2 USING kyrodb (v);
SELECT clock_timestamp() AS t0 \gset
INSERT INTO bp2 SELECT i, (SELECT array_agg(cos(i * 0.11 + d)) FROM generate_series(1, 128) d)::vector
FROM generate_series(1, 5000) i;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '4 seconds' AS did_not_wait,
       hot_rows = 5000 AS all_in_hot_tier FROM kyrodb_index_stats('bp2_idx');
COMMIT;

-- 0 turns the waits off
SET kyrodb.hot_tier_limit = 0;
TRUNCATE bp;
INSERT INTO bp SELECT i, (SELECT array_agg(sin(i * 0.37 + d * 1.3)) FROM generate_series(1, 128) d)::vector
FROM generate_series(1, 3000) i;
SELECT count(*) FROM bp;
DROP TABLE bp, bp2;
RESET kyrodb.flush_threshold;
RESET kyrodb.flush_threshold_size;
RESET kyrodb.hot_tier_limit;
