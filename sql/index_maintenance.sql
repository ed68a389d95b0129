-- Flushes, merges and VACUUM at small memory settings, the segment
-- directory's limit, kyrodb_verify_index, and the admin functions' checks.
CREATE TABLE grow (id bigserial PRIMARY KEY, v vector(384));
CREATE INDEX grow_idx ON grow USING kyrodb (v);
SET kyrodb.flush_threshold = 1000000;  -- no background flush: the test flushes
SET kyrodb.flush_threshold_size = '1GB';

-- 130 small flushes of 384-dim rows at maintenance_work_mem = 1MB: merges
-- keep the segment count logarithmic (merges had to fit maintenance_work_mem:
-- 65 segments here, and one more per flush until the 128-segment directory
-- was full, when every flush and VACUUM failed)
SET maintenance_work_mem = '1MB';
DO $$
BEGIN
  FOR round IN 1..130 LOOP
    INSERT INTO grow (v) SELECT ARRAY(SELECT sin(g * 384 + k + round * 100000) FROM generate_series(1, 384) k)
      FROM generate_series(1, 100) g;
    PERFORM kyrodb_flush('grow_idx');
  END LOOP;
END $$;
SELECT segments <= 12 AS logarithmic, elements, hot_rows FROM kyrodb_index_stats('grow_idx');
VACUUM grow;
SELECT kyrodb_flush('grow_idx');
SELECT kyrodb_verify_index('grow_idx', true);

-- a flush builds segments of what maintenance_work_mem allows (about 200
-- rows of 384 dimensions per MB), not one segment of the whole hot tier
SET kyrodb.merge_work_mem = '1MB';
INSERT INTO grow (v) SELECT ARRAY(SELECT cos(g * 384 + k) FROM generate_series(1, 384) k)
  FROM generate_series(1, 2000) g;
CREATE TEMP TABLE before AS SELECT segments FROM kyrodb_index_stats('grow_idx');
SELECT kyrodb_flush('grow_idx');
SELECT s.segments - b.segments >= 4 AS several_segments FROM kyrodb_index_stats('grow_idx') s, before b;
SELECT kyrodb_verify_index('grow_idx', true);
RESET kyrodb.merge_work_mem;
RESET maintenance_work_mem;
SET enable_seqscan = off;
SET kyrodb.exact_search = on;
SELECT count(*) AS all_found FROM (SELECT id FROM grow ORDER BY v <-> (SELECT v FROM grow LIMIT 1) LIMIT 20000) a;
RESET kyrodb.exact_search;
RESET enable_seqscan;
DROP TABLE grow;

-- the directory holds 128 segments: when it is full and no merge fits
-- kyrodb.merge_work_mem, kyrodb_flush fails before building anything and
-- VACUUM warns and completes (it used to fail for good)
CREATE TABLE full_dir (id bigserial PRIMARY KEY, v vector(8));
CREATE INDEX full_dir_idx ON full_dir USING kyrodb (v);
SET kyrodb.flush_threshold = 1000000;
SET maintenance_work_mem = '1MB';
SET kyrodb.merge_work_mem = '1MB';
DO $$
BEGIN
  FOR round IN 1..128 LOOP
    INSERT INTO full_dir (v) SELECT ARRAY(SELECT sin(g * 8 + k + round * 10000) FROM generate_series(1, 8) k)
      FROM generate_series(1, 1800) g;
    PERFORM kyrodb_flush('full_dir_idx');
  END LOOP;
END $$;
SELECT segments, hot_rows FROM kyrodb_index_stats('full_dir_idx');
INSERT INTO full_dir (v) SELECT ARRAY[g, 1, 2, 3, 4, 5, 6, 7] FROM generate_series(1, 100) g;
SELECT kyrodb_flush('full_dir_idx');
SET kyrodb.flush_threshold = 10;
VACUUM full_dir;
SELECT segments, hot_rows FROM kyrodb_index_stats('full_dir_idx');
SELECT kyrodb_verify_index('full_dir_idx', true);
-- with room to merge, the next flush catches up
RESET kyrodb.merge_work_mem;
SELECT kyrodb_flush('full_dir_idx');
SELECT segments < 128 AS merged, hot_rows FROM kyrodb_index_stats('full_dir_idx');
SELECT kyrodb_verify_index('full_dir_idx', true);
DROP TABLE full_dir;
RESET maintenance_work_mem;

-- CREATE INDEX at maintenance_work_mem = 1MB over 50,000 rows succeeds with
-- many segments, and says so (and what would make one); after a merge the
-- index answers as before: every row, and the same recall against the
-- sequential scan's answers
CREATE TABLE small_mem (id int PRIMARY KEY, v vector(8));
INSERT INTO small_mem
SELECT i, ARRAY(SELECT sin(i * 0.7 + k * 1.3) + cos(i * 0.013 * k) FROM generate_series(1, 8) k)
  FROM generate_series(1, 50000) i;
CREATE TABLE small_mem_truth AS
SELECT q.id AS qid, ARRAY(SELECT s.id FROM small_mem s ORDER BY s.v <-> q.v, s.id LIMIT 10) AS ids
  FROM small_mem q WHERE q.id % 2500 = 7;
SET maintenance_work_mem = '1MB';
CREATE INDEX small_mem_idx ON small_mem USING kyrodb (v);
RESET maintenance_work_mem;
CREATE FUNCTION small_mem_check() RETURNS TABLE (segments int, all_rows boolean, recall_at_least_095 boolean)
LANGUAGE plpgsql AS $$
DECLARE
  hits int := 0;
  wanted int := 0;
  t record;
BEGIN
  SET LOCAL enable_seqscan = off;
  FOR t IN SELECT * FROM small_mem_truth LOOP
    hits := hits + (SELECT count(*) FROM (SELECT s.id FROM small_mem s
                      ORDER BY s.v <-> (SELECT v FROM small_mem WHERE id = t.qid) LIMIT 10) a WHERE a.id = ANY (t.ids));
    wanted := wanted + 10;
  END LOOP;
  SET LOCAL kyrodb.exact_search = on;
  SET LOCAL kyrodb.max_scan_tuples = 100000;
  RETURN QUERY SELECT (SELECT s.segments FROM kyrodb_index_stats('small_mem_idx') s),
    (SELECT count(*) = 50000 FROM (SELECT id FROM small_mem ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 100000) a),
    hits >= 0.95 * wanted;
END $$;
SELECT segments > 10 AS many_segments, all_rows, recall_at_least_095 FROM small_mem_check();
SELECT kyrodb_flush('small_mem_idx');
SELECT segments < 10 AS merged, all_rows, recall_at_least_095 FROM small_mem_check();
SELECT kyrodb_verify_index('small_mem_idx', true);
DROP TABLE small_mem, small_mem_truth;
DROP FUNCTION small_mem_check;

-- a merge extends its largest segment: the other segments' rows are inserted
-- into its graph and its tombstones carry over, so its deleted rows are never
-- returned, even once the heap gives their TIDs to new rows; the index
-- answers as the sequential scan does
CREATE TABLE folded (id int PRIMARY KEY, v vector(8));
INSERT INTO folded
SELECT i, ARRAY(SELECT sin(i * 0.7 + k * 1.3) + cos(i * 0.011 * k) FROM generate_series(1, 8) k)
  FROM generate_series(1, 4000) i;
CREATE INDEX folded_idx ON folded USING kyrodb (v);
SET kyrodb.flush_threshold = 1000000;
CREATE TEMP TABLE folded_gone AS SELECT ctid AS tid FROM folded WHERE id <= 120;
DELETE FROM folded WHERE id <= 120;  -- 3 % of the segment: it may carry them
VACUUM folded;
SELECT segments, elements, tombstones FROM kyrodb_index_stats('folded_idx');
INSERT INTO folded
SELECT i, ARRAY(SELECT cos(i * 0.3 + k) FROM generate_series(1, 8) k) FROM generate_series(4001, 4600) i;
SELECT count(*) > 0 AS tids_reused FROM folded WHERE ctid IN (SELECT tid FROM folded_gone);
SELECT kyrodb_flush('folded_idx');  -- 600 new rows: more than 1/8 of the segment, which takes them in
SELECT segments, elements, tombstones FROM kyrodb_index_stats('folded_idx');
SELECT kyrodb_verify_index('folded_idx', true);
CREATE FUNCTION folded_check() RETURNS TABLE (same_as_seqscan boolean, recall_at_least_095 boolean)
LANGUAGE plpgsql AS $$
DECLARE
  same boolean := true;
  hits int := 0;
  q record;
  truth int[];
BEGIN
  FOR q IN SELECT id, v FROM folded WHERE id % 200 = 3 LOOP
    SET LOCAL enable_indexscan = off;
    SET LOCAL enable_bitmapscan = off;
    truth := ARRAY(SELECT id FROM folded ORDER BY v <-> q.v, id LIMIT 10);
    SET LOCAL enable_indexscan = on;
    SET LOCAL enable_seqscan = off;
    SET LOCAL kyrodb.exact_search = on;
    same := same AND truth = ARRAY(SELECT id FROM folded ORDER BY v <-> q.v LIMIT 10);
    SET LOCAL kyrodb.exact_search = off;
    hits := hits + (SELECT count(*) FROM (SELECT id FROM folded ORDER BY v <-> q.v LIMIT 10) a WHERE a.id = ANY (truth));
    SET LOCAL enable_seqscan = on;
  END LOOP;
  RETURN QUERY SELECT same, hits >= 0.95 * 10 * (SELECT count(*) FROM folded WHERE id % 200 = 3);
END $$;
SELECT * FROM folded_check();
DROP TABLE folded;
DROP FUNCTION folded_check;
RESET kyrodb.flush_threshold;

-- the hot tier is flushed when its vectors pass kyrodb.flush_threshold_size,
-- however few rows they are
SET kyrodb.flush_threshold = 1000000;
CREATE TABLE wide_hot (id int, v vector(256));
CREATE INDEX wide_hot_idx ON wide_hot USING kyrodb (v);
INSERT INTO wide_hot SELECT i, array_fill(i::real, ARRAY[256])::vector FROM generate_series(1, 100) i;
VACUUM wide_hot;
SELECT segments, hot_rows FROM kyrodb_index_stats('wide_hot_idx');
SET kyrodb.flush_threshold_size = '64kB';
VACUUM wide_hot;
SELECT segments, hot_rows FROM kyrodb_index_stats('wide_hot_idx');
SET kyrodb.flush_threshold_size = '1kB';
RESET kyrodb.flush_threshold_size;
SHOW kyrodb.flush_threshold_size;
DROP TABLE wide_hot;
SET kyrodb.flush_threshold = 10;

-- kyrodb_verify_index
CREATE TABLE checked (id int, v vector(3));
INSERT INTO checked SELECT i, ARRAY[i, i % 7, 1] FROM generate_series(1, 500) i;
CREATE INDEX checked_idx ON checked USING kyrodb (v);
INSERT INTO checked SELECT i, ARRAY[i, 0, 0] FROM generate_series(501, 520) i;
DELETE FROM checked WHERE id % 10 = 0;
SELECT kyrodb_verify_index('checked_idx');
SELECT kyrodb_verify_index('checked_idx', heapallindexed => true);
VACUUM checked;
SELECT kyrodb_verify_index('checked_idx', true);
SELECT kyrodb_verify_index('checked');
SELECT kyrodb_verify_index(NULL);

-- admin functions: privileges are checked before any lock; partitioned
-- indexes have no storage of their own
CREATE ROLE maint_user;
SET ROLE maint_user;
SELECT kyrodb_index_stats('checked_idx');
SELECT kyrodb_verify_index('checked_idx');
SELECT kyrodb_flush('checked_idx');
SET kyrodb.flush_threshold = 1;
SET kyrodb.merge_work_mem = '1GB';
SET kyrodb.crash_point = 'flush.published';
RESET ROLE;
GRANT pg_stat_scan_tables TO maint_user;
SET ROLE maint_user;
SELECT segments FROM kyrodb_index_stats('checked_idx');
RESET ROLE;
DROP ROLE maint_user;
SET kyrodb.crash_point = 'no.such.point';
SHOW kyrodb.crash_point;
SHOW kyrodb.merge_work_mem;

CREATE TABLE parted (id int, v vector(3)) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (100) TO (200);
INSERT INTO parted SELECT i, ARRAY[i, 1, 1] FROM generate_series(0, 199) i;
CREATE INDEX parted_idx ON parted USING kyrodb (v);
SELECT kyrodb_flush('parted_idx');
SELECT kyrodb_index_stats('parted_idx');
SELECT kyrodb_prewarm('parted_idx');
SELECT kyrodb_verify_index('parted_idx');
SELECT kyrodb_verify_index(i.indexrelid::regclass, true) FROM pg_inherits h JOIN pg_index i ON i.indexrelid = h.inhrelid
  WHERE h.inhparent = 'parted_idx'::regclass;
DROP TABLE parted;
DROP TABLE checked;
RESET kyrodb.flush_threshold;
