-- Filter columns: conditions on the columns after the vector are answered
-- inside the search. Each condition's answers equal a sequential scan's with
-- the same WHERE, through the hot tier, segments, flushes, merges, updates
-- and VACUUM.
SET kyrodb.flush_threshold = 100000;  -- no background flush: each step is this script's
CREATE TABLE filt (
  id int PRIMARY KEY, v vector(6),
  i2 int2, i4 int4, i8 int8, b bool, d date, ts timestamp, tz timestamptz,
  t text, vc varchar(20), u uuid, meta jsonb, tags int4[], labels text[], big int8[]);
CREATE FUNCTION filt_row(i int) RETURNS filt LANGUAGE sql AS $$
  SELECT i, (SELECT array_agg(sin(i * 0.37 + j * 1.9) + cos(i * 0.011 * j)) FROM generate_series(1, 6) j)::vector,
    CASE WHEN i % 17 = 0 THEN NULL ELSE (i % 7 - 3)::int2 END,
    i % 100,
    CASE WHEN i % 23 = 0 THEN NULL ELSE i::int8 * 1000000007 END,
    CASE WHEN i % 11 = 0 THEN NULL ELSE i % 3 = 0 END,
    date '2024-01-01' + (i % 400),
    timestamp '2024-06-30 23:59:59.999998' + (i % 5) * interval '1 microsecond',
    CASE WHEN i % 500 = 0 THEN 'infinity'::timestamptz WHEN i % 501 = 0 THEN '-infinity'
         ELSE timestamptz '2024-01-01 00:00:00+00' + i * interval '1 hour' END,
    CASE i % 4 WHEN 0 THEN 'Zürich' WHEN 1 THEN '東京' WHEN 2 THEN '' ELSE NULL END,
    'tag' || (i % 5),
    CASE WHEN i % 13 = 0 THEN NULL ELSE md5((i % 9)::text)::uuid END,
    jsonb_build_object('lang', CASE WHEN i % 3 = 0 THEN 'de' ELSE 'en' END),
    CASE WHEN i % 19 = 0 THEN NULL WHEN i % 19 = 1 THEN '{}' ELSE ARRAY[i % 10, i % 33, 100 + i % 7] END,
    CASE WHEN i % 29 = 0 THEN NULL ELSE ARRAY['a' || (i % 6), 'Ü' || (i % 4), CASE WHEN i % 5 = 0 THEN NULL END] END,
    ARRAY[i::int8 * 1000000007 % 50, 5000000000 + i % 3]
$$;
INSERT INTO filt SELECT (filt_row(i)).* FROM generate_series(1, 3000) i;
CREATE INDEX filt_idx ON filt USING kyrodb (v, i2, i4, i8, b, d, ts, tz, t, vc, u, (meta->>'lang'), tags, labels, big)
  WITH (m = 4, ef_construction = 16);
ANALYZE filt;

-- Each condition is answered by the index.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE i4 BETWEEN 3 AND 5 AND i2 IS NOT NULL ORDER BY v <-> '[1,0,0,0,0,1]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE t = 'Zürich' AND u IS NULL AND b ORDER BY v <-> '[1,0,0,0,0,1]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE meta->>'lang' = 'de' AND i8 > 5::int4 ORDER BY v <-> '[1,0,0,0,0,1]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE tags && '{3,4}' AND labels @> '{a1}' ORDER BY v <-> '[1,0,0,0,0,1]' LIMIT 5;
-- what the index does not answer stays a filter above it
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE i4 = 3 OR i4 = 4 ORDER BY v <-> '[1,0,0,0,0,1]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE t > 'a' ORDER BY v <-> '[1,0,0,0,0,1]' LIMIT 5;
RESET enable_seqscan;

-- For 20 queries: the ids the index returns for `cond`, against a sequential
-- scan's. With ef_search 1000 every segment is scanned exactly, so the lists
-- must be equal; with ef_search 10 the graph is walked, and every row must
-- pass the condition and LIMIT rows come back when that many match.
CREATE FUNCTION check_filter(cond text, lim int DEFAULT 10) RETURNS TABLE (exact_differ int, walk_bad int, matching bigint)
LANGUAGE plpgsql AS $$
DECLARE
  q vector;
  got int[];
  want int[];
  ok bool;
  sql text := format('SELECT ARRAY(SELECT id FROM filt WHERE %s ORDER BY v <-> $1, id LIMIT %s)', cond, lim);
BEGIN
  exact_differ := 0;
  walk_bad := 0;
  EXECUTE format('SELECT count(*) FROM filt WHERE %s', cond) INTO matching;
  FOR i IN 1..20 LOOP
    q := (SELECT array_agg(cos(i * 1.3 + j * 0.7))::vector FROM generate_series(1, 6) j);
    PERFORM set_config('enable_seqscan', 'on', true);
    PERFORM set_config('enable_indexscan', 'off', true);
    PERFORM set_config('enable_bitmapscan', 'off', true);
    EXECUTE sql INTO want USING q;
    PERFORM set_config('enable_seqscan', 'off', true);
    PERFORM set_config('enable_indexscan', 'on', true);
    PERFORM set_config('kyrodb.ef_search', '1000', true);
    EXECUTE replace(sql, ', id LIMIT', ' LIMIT') INTO got USING q;
    IF got IS DISTINCT FROM want THEN exact_differ := exact_differ + 1; END IF;
    PERFORM set_config('kyrodb.ef_search', '10', true);
    EXECUTE replace(sql, ', id LIMIT', ' LIMIT') INTO got USING q;
    EXECUTE format('SELECT coalesce(bool_and(%s), true) AND count(*) = least(%s, %s) FROM filt WHERE id = ANY($1)',
                   cond, lim, matching) INTO ok USING got;
    IF NOT ok OR cardinality(got) <> cardinality(want) THEN walk_bad := walk_bad + 1; END IF;
  END LOOP;
  RETURN NEXT;
END $$;
CREATE TABLE conditions (cond text);
INSERT INTO conditions VALUES
  ('i4 = 7'), ('i4 < 3'), ('i4 <= 3'), ('i4 > 96'), ('i4 >= 96'), ('i4 BETWEEN 40 AND 44'),
  ('i4 = 7 AND i4 = 8'), ('i4 < 3 AND i4 > 5'), ('i4 = NULL'),
  ('i2 = -3'), ('i2 IS NULL'), ('i2 IS NOT NULL AND i2 > 2'), ('i2 = 2::int8'),
  ('i8 IS NULL'), ('i8 < 50000000350::int8'), ('i8 >= 2999000000000'),
  ('b'), ('NOT b'), ('b IS NULL'), ('b = false AND i4 < 10'),
  ('d = ''2024-02-29'''), ('d BETWEEN ''2024-12-30'' AND ''2025-01-02'''),
  ('ts <= ''2024-06-30 23:59:59.999999'''), ('ts > ''2024-06-30 23:59:59.999999'''),
  ('tz = ''infinity'''), ('tz = ''-infinity'''), ('tz < ''2024-01-02 00:00:00+00'''),
  ('tz >= ''2024-05-01 00:00:00+00'' AND tz < ''infinity'''),
  ('t = ''Zürich'''), ('t = ''東京'''), ('t = '''''), ('t IS NULL'), ('t = ''zürich'''),
  ('vc = ''tag3'''), ('u = md5(''4'')::uuid'), ('u IS NULL'),
  ('meta->>''lang'' = ''de'' AND i4 < 20'),
  ('i4 = 7 AND t = ''東京'' AND b IS NOT NULL'),
  ('tags && ''{3}'''), ('tags && ''{3, 32, 1000}'''), ('tags @> ''{3, 13}'''), ('tags @> ''{}'''), ('tags && ''{}'''),
  ('tags IS NULL'), ('tags @> ''{1, NULL}'''), ('tags && ''{NULL, 5}'''),
  ('labels @> ''{a1, Ü3}'''), ('labels && ''{a9}'''), ('labels @> ''{a2}'' AND tags && ''{104}'''),
  ('big && ''{5000000001}'''), ('big @> ''{7, 5000000000}''');
SELECT cond, (check_filter(cond)).* FROM conditions ORDER BY cond;
-- IN lists: an executor filter on PostgreSQL 15, answers just as complete
SELECT (check_filter('i4 IN (1, 2, NULL)')).*, (check_filter('t IN (''Zürich'', ''東京'')')).*;
-- 0.1 % selective: LIMIT rows come back
SELECT (check_filter('i4 = 7 AND d = ''2024-01-08''', 3)).*;

-- Rows in the hot tier, then after a flush, then merged with another segment
INSERT INTO filt SELECT (filt_row(i)).* FROM generate_series(3001, 3500) i;
SELECT hot_rows > 0 AS hot FROM kyrodb_index_stats('filt_idx');
SELECT cond, (check_filter(cond)).* FROM conditions WHERE cond IN ('i4 = 7', 't = ''Zürich''', 'i2 IS NULL', 'b = false AND i4 < 10');
SELECT kyrodb_flush('filt_idx') > 0 AS flushed;
INSERT INTO filt SELECT (filt_row(i)).* FROM generate_series(3501, 4500) i;
SELECT kyrodb_flush('filt_idx') > 0 AS flushed;
SELECT segments FROM kyrodb_index_stats('filt_idx');
SELECT cond, (check_filter(cond)).* FROM conditions ORDER BY cond;

-- An UPDATE of a filter column moves the row between filters at once,
-- before and after a flush; DELETE and VACUUM drop rows.
UPDATE filt SET i4 = 1000 WHERE id IN (10, 20, 3600);
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM filt WHERE i4 = 1000 ORDER BY v <-> '[1,1,1,1,1,1]' LIMIT 10) s;
SELECT count(*) FROM (SELECT id FROM filt WHERE i4 = 10 ORDER BY v <-> '[1,1,1,1,1,1]' LIMIT 100) s WHERE id = 10;
SELECT kyrodb_flush('filt_idx') > 0 AS flushed;
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM filt WHERE i4 = 1000 ORDER BY v <-> '[1,1,1,1,1,1]' LIMIT 10) s;
DELETE FROM filt WHERE id % 3 = 0;
VACUUM filt;
SELECT cond, (check_filter(cond)).* FROM conditions WHERE cond IN ('i4 = 7', 't = ''東京''', 'NOT b', 'tz = ''infinity''');
SELECT kyrodb_verify_index('filt_idx', true);

-- The result cache keys include the filter.
SET kyrodb.ef_search = 10;
SELECT array_agg(id) AS seven FROM (SELECT id FROM filt WHERE i4 = 7 ORDER BY v <-> '[1,1,1,1,1,1]' LIMIT 3) s;
SELECT array_agg(id) AS eight FROM (SELECT id FROM filt WHERE i4 = 8 ORDER BY v <-> '[1,1,1,1,1,1]' LIMIT 3) s;
SELECT array_agg(id) AS seven_again FROM (SELECT id FROM filt WHERE i4 = 7 ORDER BY v <-> '[1,1,1,1,1,1]' LIMIT 3) s;
RESET kyrodb.ef_search;

-- Columns that cannot be filter columns
CREATE INDEX ON filt USING kyrodb (v, meta);
CREATE INDEX ON filt USING kyrodb (v, (v::real[]));
CREATE INDEX ON filt USING kyrodb (i4, v);
CREATE INDEX ON filt USING kyrodb (v, v);
-- a domain column is stored as its base type
CREATE DOMAIN tenant_id AS int4 CHECK (VALUE > 0);
CREATE TABLE dom (id int, v vector(2), t tenant_id);
INSERT INTO dom SELECT i, ARRAY[sin(i), cos(i)], 1 + i % 3 FROM generate_series(1, 300) i;
CREATE INDEX ON dom USING kyrodb (v, t);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM dom WHERE t = 2 ORDER BY v <-> '[1,0]' LIMIT 3;
SELECT count(*) FILTER (WHERE t <> 2) AS wrong, count(*) AS rows
  FROM (SELECT id, t FROM dom WHERE t = 2 ORDER BY v <-> '[1,0]' LIMIT 50) s;
RESET enable_seqscan;
DROP TABLE dom;
DROP DOMAIN tenant_id;
-- a bare boolean column is not rewritten to `= true` for a kyrodb index
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE b ORDER BY v <-> '[1,0,0,0,0,1]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM filt WHERE b = true ORDER BY v <-> '[1,0,0,0,0,1]' LIMIT 5;
DROP FUNCTION filt_row, check_filter;
DROP TABLE filt, conditions;
