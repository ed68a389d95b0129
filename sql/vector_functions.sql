-- Operators, functions and aggregates on known values.

-- distances
SELECT '[0,0]'::vector <-> '[3,4]', l2_distance('[0,0]', '[3,4]');
SELECT '[1,2,3]'::vector <-> '[1,2,3]';
SELECT vector_l2_squared_distance('[0,0]', '[3,4]');
SELECT '[1,2,3]'::vector <#> '[4,5,6]', inner_product('[1,2,3]', '[4,5,6]');
SELECT vector_negative_inner_product('[1,2,3]', '[4,5,6]');
SELECT '[1,2]'::vector <=> '[2,4]', cosine_distance('[1,2]', '[2,4]');
SELECT '[1,2]'::vector <=> '[-1,-2]';
SELECT '[1,0]'::vector <=> '[0,1]';
SELECT '[0,0]'::vector <=> '[1,1]';
SELECT '[1,1,1,1,1,1,1,1,1]'::vector <=> '[1.0000001,1,1,1,1,1,1,1,1]' >= 0 AS clamped;
SELECT '[1,2,3]'::vector <+> '[-1,0,5]', l1_distance('[1,2,3]', '[-1,0,5]');
SELECT '[3e38]'::vector <-> '[-3e38]';
SELECT '[1,2]'::vector <-> '[1,2,3]';
SELECT '[1,2]'::vector <#> '[1,2,3]';
SELECT '[1,2]'::vector <=> '[1,2,3]';
SELECT '[1,2]'::vector <+> '[1,2,3]';

-- distances on long vectors agree with a double-precision computation in SQL
WITH v AS (
  SELECT array_agg(sin(i)::real ORDER BY i) AS a, array_agg(cos(i * 0.7)::real ORDER BY i) AS b
    FROM generate_series(1, 1537) i
), ref AS (
  SELECT sqrt(sum((x - y) ^ 2)) AS l2, sum(x * y) AS ip, sum(abs(x - y)) AS l1,
         1 - sum(x * y) / sqrt(sum(x * x) * sum(y * y)) AS cos
    FROM v, unnest(a, b) AS u(x, y)
)
SELECT abs(l2_distance(a::vector, b::vector) - l2) < 1e-4 * l2 AS l2_ok,
       abs(inner_product(a::vector, b::vector) - ip) < 1e-3 AS ip_ok,
       abs(l1_distance(a::vector, b::vector) - l1) < 1e-4 * l1 AS l1_ok,
       abs(cosine_distance(a::vector, b::vector) - cos) < 1e-5 AS cos_ok
  FROM v, ref;

-- properties
SELECT vector_dims('[1,2,3]'), vector_norm('[3,4]'), vector_norm('[0,0]');
SELECT vector_norm('[3e38,3e38]');
SELECT l2_normalize('[3,4]'), l2_normalize('[0,0]'), l2_normalize('[0,5,0]');
SELECT l2_normalize('[1e-45,0]');
SELECT subvector('[1,2,3,4,5]', 1, 3), subvector('[1,2,3,4,5]', 3, 2), subvector('[1,2,3,4,5]', 4, 10);
SELECT subvector('[1,2,3,4,5]', -1, 3), subvector('[1,2,3,4,5]', 5, 1);
SELECT subvector('[1,2,3,4,5]', 2147483647, 1);
SELECT subvector('[1,2,3,4,5]', 3, 2147483647);
SELECT subvector('[1,2,3,4,5]', -2147483648, 2147483647);
SELECT subvector('[1,2,3,4,5]', 6, 1);
SELECT subvector('[1,2,3,4,5]', 1, 0);
SELECT subvector('[1,2,3,4,5]', -5, 3);

-- arithmetic
SELECT '[1,2,3]'::vector + '[4,5,6]', '[1,2,3]'::vector - '[4,5,6]', '[1,2,3]'::vector * '[4,5,6]';
SELECT '[1,2]'::vector || '[3]';
SELECT '[3e38]'::vector + '[3e38]';
SELECT '[-3e38]'::vector - '[3e38]';
SELECT '[1e20]'::vector * '[1e20]';
SELECT '[1e-30]'::vector * '[1e-30]';
SELECT '[0]'::vector * '[1e-30]';
SELECT '[1,2]'::vector + '[1,2,3]';
SELECT '[1,2]'::vector - '[1,2,3]';
SELECT '[1,2]'::vector * '[1,2,3]';
SELECT ('[' || repeat('1,', 7999) || '1]')::vector || ('[' || repeat('1,', 8000) || '1]')::vector;

-- comparison and btree
SELECT '[1,2,3]'::vector = '[1,2,3]', '[1,2,3]'::vector = '[1,2]', '[1,2,3]'::vector <> '[1,2,4]';
SELECT '[1,2,3]'::vector < '[1,2,4]', '[1,2]'::vector < '[1,2,3]', '[2]'::vector < '[1,2,3]';
SELECT '[1,2,3]'::vector <= '[1,2,3]', '[1,2,3]'::vector >= '[1,2,3]', '[1,3]'::vector > '[1,2,9]';
SELECT vector_cmp('[1,2]', '[1,2]'), vector_cmp('[1,2]', '[1,3]'), vector_cmp('[1,3]', '[1,2,0]');
SELECT '[-0]'::vector = '[0]';
CREATE TABLE cmp_t (v vector);
INSERT INTO cmp_t VALUES ('[1,2,3]'), ('[1,2]'), ('[0,9]'), ('[1,2,3]'), ('[-1]'), (NULL);
SELECT v FROM cmp_t ORDER BY v;
SELECT DISTINCT v FROM cmp_t ORDER BY v;
CREATE INDEX ON cmp_t (v);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT v FROM cmp_t WHERE v = '[1,2,3]';
SELECT v FROM cmp_t WHERE v = '[1,2,3]';
SELECT v FROM cmp_t WHERE v < '[1,2,3]' ORDER BY v;
RESET enable_seqscan;
DROP TABLE cmp_t;

-- aggregates
SELECT avg(v), sum(v) FROM (VALUES ('[1,2,3]'::vector), ('[3,5,7]'), (NULL)) t(v);
SELECT avg(v), sum(v) FROM (VALUES (NULL::vector)) t(v);
SELECT avg(v), sum(v) FROM (SELECT '[1]'::vector AS v WHERE false) t;
SELECT avg(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v);
SELECT sum(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v);
SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v);
SELECT sum(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v);
SELECT avg(v) FROM (SELECT ('[' || i || ',' || -i || ']')::vector AS v FROM generate_series(1, 100000) i) t;
-- avg across parallel workers equals the serial answer
CREATE TABLE agg_t AS SELECT i, ('[' || (i % 7) || ',' || (i % 11) || ',1]')::vector AS v FROM generate_series(1, 200000) i;
ANALYZE agg_t;
SELECT avg(v), sum(v) FROM agg_t;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(v) FROM agg_t;
SELECT avg(v), sum(v) FROM agg_t;
RESET ALL;
DROP TABLE agg_t;

-- every function is IMMUTABLE or STABLE, STRICT and PARALLEL SAFE, except the
-- aggregates, the guard self-test, the index handler and the index admin functions
SELECT p.proname, p.provolatile, p.proisstrict, p.proparallel
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'kyrodb')
   AND (p.provolatile = 'v' OR NOT p.proisstrict OR p.proparallel <> 's')
 ORDER BY 1;
