-- The result cache answers exactly what the index answers without it, while
-- the index changes under it: inserts (hot tier), flushes (new segments), a
-- merge, deletes and VACUUM (tombstones), updates that reuse heap TIDs.
SET kyrodb.flush_threshold = 100000;  -- no background flush: each step is this script's
SET kyrodb.ef_search = 10;            -- segments searched with HNSW, and LIMIT 30 > ef_search
CREATE TABLE cached (id int PRIMARY KEY, v vector(8));
INSERT INTO cached
SELECT i, (SELECT array_agg(sin(i * 0.71 + j * 2.1) + cos(i * 0.013 * j)) FROM generate_series(1, 8) j)::vector
  FROM generate_series(1, 3000) i;
-- small graphs, whose answers are far from exact: the cache must reproduce
-- the index's answers, not the true nearest rows
CREATE INDEX cached_l2 ON cached USING kyrodb (v vector_l2_ops) WITH (m = 2, ef_construction = 4);
CREATE INDEX cached_ip ON cached USING kyrodb (v vector_ip_ops) WITH (m = 2, ef_construction = 4);
CREATE INDEX cached_cos ON cached USING kyrodb (v vector_cosine_ops) WITH (m = 2, ef_construction = 4);
SELECT kyrodb_cache_reset() >= 0 AS reset;

-- For 40 queries: the ids in order with the cache off, then twice with it on
-- (a miss, which stores, and a hit); returns how many lists differ.
CREATE FUNCTION differing(op text, lim int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  q vector;
  off_ids int[];
  first_ids int[];
  second_ids int[];
  bad int := 0;
  sql text := format('SELECT ARRAY(SELECT id FROM cached ORDER BY v %s $1 LIMIT %s)', op, lim);
BEGIN
  SET LOCAL enable_seqscan = off;
  SET LOCAL enable_sort = off;
  FOR i IN 1..40 LOOP
    q := (SELECT array_agg(sin(i * 1.37 + j * 0.7))::vector FROM generate_series(1, 8) j);
    PERFORM set_config('kyrodb.cache', 'off', true);
    EXECUTE sql INTO off_ids USING q;
    PERFORM set_config('kyrodb.cache', 'on', true);
    EXECUTE sql INTO first_ids USING q;
    EXECUTE sql INTO second_ids USING q;
    IF off_ids IS DISTINCT FROM first_ids OR off_ids IS DISTINCT FROM second_ids
       OR cardinality(off_ids) <> lim THEN
      bad := bad + 1;
    END IF;
  END LOOP;
  RETURN bad;
END $$;
CREATE FUNCTION all_differing() RETURNS TABLE (l2 int, ip int, cos int, l2_limit_30 int) LANGUAGE sql AS $$
  SELECT differing('<->', 10), differing('<#>', 10), differing('<=>', 10), differing('<->', 30)
$$;
CREATE FUNCTION cache_counts() RETURNS TABLE (index regclass, hits bool, refreshed bigint) LANGUAGE sql AS $$
  SELECT index, hits > 0, parts_refreshed FROM kyrodb_cache_stats() WHERE index::text LIKE 'cached%' ORDER BY 1::text
$$;

-- one segment per index
SELECT * FROM all_differing();
SELECT * FROM cache_counts();
SELECT segments, hot_rows FROM kyrodb_index_stats('cached_l2');

-- rows in the hot tier are searched live beside a hit (fewer than 1/8 of
-- the segment's: the flush below keeps them in a segment of their own)
INSERT INTO cached
SELECT i, (SELECT array_agg(sin(i * 0.71 + j * 2.1) + cos(i * 0.013 * j)) FROM generate_series(1, 8) j)::vector
  FROM generate_series(3001, 3300) i;
SELECT * FROM all_differing();

-- a flush adds a segment: entries keep their parts, the new one is added
SELECT kyrodb_flush('cached_l2') AS l2, kyrodb_flush('cached_ip') AS ip, kyrodb_flush('cached_cos') AS cos;
SELECT segments, hot_rows FROM kyrodb_index_stats('cached_l2');
SELECT * FROM all_differing();
SELECT * FROM cache_counts();

-- a flush larger than both (and more than 8 times their rows: no merge): it
-- is searched first now, and the others with the frontier it sets, not the
-- one their parts were searched with
INSERT INTO cached
SELECT i, (SELECT array_agg(sin(i * 0.71 + j * 2.1) + cos(i * 0.013 * j)) FROM generate_series(1, 8) j)::vector
  FROM generate_series(3301, 33300) i;
SELECT kyrodb_flush('cached_l2') AS l2, kyrodb_flush('cached_ip') AS ip, kyrodb_flush('cached_cos') AS cos;
SELECT segments, hot_rows FROM kyrodb_index_stats('cached_l2');
SELECT * FROM all_differing();

-- the next flush merges all four segments into one: every part is stale
INSERT INTO cached
SELECT i, (SELECT array_agg(sin(i * 0.71 + j * 2.1) + cos(i * 0.013 * j)) FROM generate_series(1, 8) j)::vector
  FROM generate_series(33301, 34800) i;
SELECT kyrodb_flush('cached_l2') AS l2, kyrodb_flush('cached_ip') AS ip, kyrodb_flush('cached_cos') AS cos;
SELECT segments, elements FROM kyrodb_index_stats('cached_l2');
SELECT * FROM all_differing();

-- VACUUM tombstones deleted rows; updates then reuse their heap TIDs
DELETE FROM cached WHERE id % 7 = 0;
VACUUM cached;
SELECT segments, tombstones > 0 AS tombstoned FROM kyrodb_index_stats('cached_l2');
SELECT * FROM all_differing();
UPDATE cached SET v = v + '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' WHERE id % 11 = 0;
SELECT * FROM all_differing();
VACUUM cached;
SELECT * FROM all_differing();

-- whether this session's last scan of an index hit
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM cached ORDER BY v <-> '[1,2,1,2,1,2,1,2]' LIMIT 5) r;
SELECT last_scan FROM kyrodb_cache_stats() WHERE index = 'cached_l2'::regclass;
SELECT count(*) FROM (SELECT id FROM cached ORDER BY v <-> '[1,2,1,2,1,2,1,2]' LIMIT 5) r;
SELECT last_scan FROM kyrodb_cache_stats() WHERE index = 'cached_l2'::regclass;
RESET enable_seqscan;

-- kyrodb.cache off bypasses the cache: no lookups counted
SELECT kyrodb_cache_reset('cached_l2');
SET kyrodb.cache = off;
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM cached ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 5) r;
RESET enable_seqscan;
RESET kyrodb.cache;
SELECT count(*) AS counted FROM kyrodb_cache_stats() WHERE index = 'cached_l2'::regclass;

-- resetting takes ownership of the table, or superuser for the whole cache
CREATE ROLE cache_stranger;
SET ROLE cache_stranger;
SELECT kyrodb_cache_reset('cached_l2');
SELECT kyrodb_cache_reset();
RESET ROLE;
DROP ROLE cache_stranger;
SELECT kyrodb_cache_reset('cached'::regclass);

DROP TABLE cached;
DROP FUNCTION differing, all_differing, cache_counts;
RESET kyrodb.ef_search;
RESET kyrodb.flush_threshold;
