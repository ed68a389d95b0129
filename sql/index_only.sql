-- Index-only scans: the vector (not under cosine, whose rows are stored
-- normalized) and the filter columns stored as their own values (integers,
-- bool, date, timestamps) come back from the index, so a query needing no
-- other column skips the heap. What comes back equals the heap's row, from
-- segments, the hot tier (this connection's copy or its pages), after
-- flushes and updates; the order equals a sequential scan's.
SET kyrodb.flush_threshold = 100000;  -- no background flush: each step is this script's
CREATE TABLE io (id int8 PRIMARY KEY, v vector(5), i2 int2, i4 int4, b bool, d date, ts timestamp,
  tz timestamptz, t text);
CREATE FUNCTION io_row(i int) RETURNS io LANGUAGE sql AS $$
  SELECT i, (SELECT array_agg(sin(i * 0.53 + j * 1.7) + cos(i * 0.013 * j)) FROM generate_series(1, 5) j)::vector,
    CASE WHEN i % 17 = 0 THEN NULL ELSE (i % 7 - 3)::int2 END,
    i % 10,
    CASE WHEN i % 11 = 0 THEN NULL ELSE i % 3 = 0 END,
    CASE WHEN i % 13 = 0 THEN NULL ELSE date '1999-12-31' + (i % 400) END,
    CASE WHEN i % 300 = 0 THEN 'infinity'::timestamp
         ELSE timestamp '2024-06-30 23:59:59.999998' + i * interval '1 microsecond' END,
    CASE WHEN i % 301 = 0 THEN '-infinity'::timestamptz
         ELSE timestamptz '1970-01-01 00:00:00+00' - i * interval '1 hour' END,
    'row ' || i
$$;
INSERT INTO io SELECT (io_row(i)).* FROM generate_series(1, 2000) i;
CREATE INDEX io_idx ON io USING kyrodb (v, id, i2, i4, b, d, ts, tz, t) WITH (m = 4, ef_construction = 16);
VACUUM ANALYZE io;
SET enable_seqscan = off;

-- What the index holds: an index-only scan, with or without a filter.
EXPLAIN (COSTS OFF) SELECT id, v <-> '[1,0,0,0,1]' FROM io ORDER BY v <-> '[1,0,0,0,1]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id, ts FROM io WHERE i4 = 3 AND b ORDER BY v <-> '[1,0,0,0,1]' LIMIT 5;
-- text is stored as a hash: the heap gives it
EXPLAIN (COSTS OFF) SELECT id, t FROM io ORDER BY v <-> '[1,0,0,0,1]' LIMIT 5;

-- Rows the index returns against the heap's, and their order against a
-- sequential scan's (exact at this ef_search: every segment scanned exactly).
CREATE FUNCTION io_check(q vector, cond text, k int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  query text := format('SELECT id, v, i2, i4, b, d, ts, tz FROM io WHERE %s ORDER BY v <-> %L LIMIT %s', cond, q, k);
  plan text;
  fetched int;
  differing int;
  exact int8[];
  got int8[];
BEGIN
  FOR plan IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
    EXIT WHEN plan LIKE '%Scan%';
  END LOOP;
  -- a row returned must be a row of the table as it is, once
  EXECUTE format('SELECT count(*), count(*) - count(DISTINCT id) + count(*) FILTER (WHERE NOT EXISTS (
                    SELECT FROM io h WHERE (h.id, h.v, h.i2, h.i4, h.b, h.d, h.ts, h.tz)
                                           IS NOT DISTINCT FROM (s.id, s.v, s.i2, s.i4, s.b, s.d, s.ts, s.tz)))
                  FROM (%s) s', query) INTO fetched, differing;
  EXECUTE format('SELECT array_agg(id) FROM (%s) s', query) INTO got;
  PERFORM set_config('enable_indexonlyscan', 'off', true);
  PERFORM set_config('enable_indexscan', 'off', true);
  PERFORM set_config('enable_bitmapscan', 'off', true);
  PERFORM set_config('enable_seqscan', 'on', true);
  EXECUTE format('SELECT array_agg(id) FROM (%s) s', query) INTO exact;
  PERFORM set_config('enable_indexonlyscan', 'on', true);
  PERFORM set_config('enable_indexscan', 'on', true);
  PERFORM set_config('enable_bitmapscan', 'on', true);
  PERFORM set_config('enable_seqscan', 'off', true);
  RETURN format('%s: %s rows, %s not in the heap, order %s', regexp_replace(plan, '^\s*(->\s*)?', ''), fetched,
                differing, CASE WHEN got IS NOT DISTINCT FROM exact THEN 'exact' ELSE 'WRONG' END);
END $$;
SET kyrodb.ef_search = 1000;
SELECT io_check('[1,0,0,0,1]', 'true', 40);
SELECT io_check('[0,-1,1,0.5,0]', 'i4 = 3', 10);
SELECT io_check('[0,-1,1,0.5,0]', 'd > ''2000-06-01'' AND tz < ''1969-12-20''', 20);
-- the graph walk (not exact): values still the heap's
RESET kyrodb.ef_search;
SELECT split_part(io_check('[1,0,0,0,1]', 'true', 40), ', order', 1);

-- Rows in the hot tier, from this connection's copy and from pages.
INSERT INTO io SELECT (io_row(i)).* FROM generate_series(2001, 2300) i;
SELECT hot_rows FROM kyrodb_index_stats('io_idx');
SET kyrodb.ef_search = 1000;
SELECT io_check('[0.3,0.3,-1,0,0]', 'true', 60);
-- (id + 0: a filter above the index scan, on what it returned)
SELECT io_check('[0.3,0.3,-1,0,0]', 'id + 0 > 2000', 20);
SET kyrodb.max_local_memory = 0;
SELECT io_check('[0.3,0.3,-1,0,0]', 'id + 0 > 2000', 20);
SELECT io_check('[1,0,0,0,1]', 'i2 IS NULL OR b IS NULL', 15);
-- more hot rows returned than a scan keeps copies of (1,024): the nearest
-- kept while reading, the others read again from pages when their turn comes
INSERT INTO io SELECT (io_row(i)).* FROM generate_series(10001, 11500) i;
SELECT io_check('[0.3,0.3,-1,0,0]', 'id + 0 > 2000', 1700);
RESET kyrodb.max_local_memory;

-- After a flush, and after updates (their pages not all-visible: the heap
-- decides visibility, the index still gives the values).
SELECT kyrodb_flush('io_idx');
SELECT io_check('[0.3,0.3,-1,0,0]', 'true', 60);
UPDATE io SET i4 = i4 + 100, v = v + '[0.5,0,0,0,0]' WHERE id % 5 = 0;
SELECT io_check('[0.3,0.3,-1,0,0]', 'true', 60);
SELECT io_check('[0.3,0.3,-1,0,0]', 'i4 >= 100', 20);
DELETE FROM io WHERE id % 7 = 0;
SELECT io_check('[1,0,0,0,1]', 'true', 60);

-- With sq8 codes the walk runs on codes; the full vectors stay for return.
DROP INDEX io_idx;
CREATE INDEX io_sq8 ON io USING kyrodb (v, id, i2, i4, b, d, ts, tz) WITH (quantization = 'sq8');
SET kyrodb.ef_search = 1000;
SELECT io_check('[1,0,0,0,1]', 'true', 60);
RESET kyrodb.ef_search;

-- INCLUDE columns are stored for index-only scans and take no conditions
-- (a condition on one is a filter above the scan).
DROP INDEX io_sq8;
CREATE INDEX io_inc ON io USING kyrodb (v, i4) INCLUDE (id, i2, b, d, ts, tz);
EXPLAIN (COSTS OFF) SELECT id FROM io WHERE i4 = 3 AND i2 = 1 ORDER BY v <-> '[1,0,0,0,1]' LIMIT 5;
SET kyrodb.ef_search = 1000;
SELECT io_check('[1,0,0,0,1]', 'true', 60);
SELECT io_check('[0,-1,1,0.5,0]', 'i4 = 3 AND i2 = 1', 10);
INSERT INTO io SELECT (io_row(i)).* FROM generate_series(2301, 2400) i;
SELECT io_check('[0.3,0.3,-1,0,0]', 'id + 0 > 2300', 10);
RESET kyrodb.ef_search;
-- only what the index keeps as it is can be included
CREATE INDEX ON io USING kyrodb (v) INCLUDE (t);
DROP INDEX io_inc;

-- Under cosine the vector is stored normalized: not returned.
CREATE INDEX io_cos ON io USING kyrodb (v vector_cosine_ops, id);
EXPLAIN (COSTS OFF) SELECT id FROM io ORDER BY v <=> '[1,0,0,0,1]' LIMIT 5;
DROP FUNCTION io_row, io_check;
DROP TABLE io;
