-- The shapes of query that want the index without a LIMIT the planner can
-- see: a window function over the distance (pgvector's hybrid-search
-- example), LIMIT $n in a generic plan, no LIMIT at all, and a filter above
-- the index that rejects most rows. Each answer is compared with a
-- sequential scan's.
CREATE TABLE shapes (id int PRIMARY KEY, v vector(8), body text);
INSERT INTO shapes SELECT g, (SELECT array_agg(sin(g * 0.37 + j * 1.3) + 0.1 * j) FROM generate_series(1, 8) j)::vector,
  'doc ' || g FROM generate_series(1, 3000) g;
CREATE INDEX shapes_l2 ON shapes USING kyrodb (v);
CREATE INDEX shapes_cos ON shapes USING kyrodb (v vector_cosine_ops);
ANALYZE shapes;
CREATE TEMP TABLE q AS SELECT '[1,0.5,0,-0.5,-1,0,0.5,1]'::vector AS v;
-- the exact answers
SET enable_indexscan = off;
CREATE TEMP TABLE exact_l2 AS SELECT row_number() OVER (ORDER BY s.v <-> q.v, id) AS r, id FROM shapes s, q;
CREATE TEMP TABLE exact_cos AS SELECT row_number() OVER (ORDER BY s.v <=> q.v, id) AS r, id FROM shapes s, q;
RESET enable_indexscan;

-- pgvector's hybrid search: RANK() over the distance hides the LIMIT from the scan
EXPLAIN (COSTS OFF)
WITH semantic AS (
  SELECT id, RANK() OVER (ORDER BY v <=> '[1,0.5,0,-0.5,-1,0,0.5,1]') AS rank
  FROM shapes ORDER BY v <=> '[1,0.5,0,-0.5,-1,0,0.5,1]' LIMIT 20)
SELECT id, rank FROM semantic ORDER BY rank;
WITH semantic AS (
  SELECT id, RANK() OVER (ORDER BY v <=> '[1,0.5,0,-0.5,-1,0,0.5,1]') AS rank
  FROM shapes ORDER BY v <=> '[1,0.5,0,-0.5,-1,0,0.5,1]' LIMIT 20)
SELECT count(*) AS rows, count(*) FILTER (WHERE e.r = s.rank) AS same_rank
FROM semantic s JOIN exact_cos e USING (id);

-- LIMIT $n in a generic plan, as ORMs bind it
PREPARE nearest(vector, int) AS SELECT id FROM shapes ORDER BY v <-> $1 LIMIT $2;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE nearest('[1,0.5,0,-0.5,-1,0,0.5,1]', 10);
CREATE TEMP TABLE got AS EXECUTE nearest('[1,0.5,0,-0.5,-1,0,0.5,1]', 10);
SELECT count(*) AS rows, count(*) FILTER (WHERE e.r <= 10) AS in_exact_10 FROM got JOIN exact_l2 e USING (id);
DROP TABLE got;
-- a LIMIT far beyond kyrodb.max_scan_tuples
SET kyrodb.max_scan_tuples = 100;
CREATE TEMP TABLE got AS EXECUTE nearest('[1,0.5,0,-0.5,-1,0,0.5,1]', 2500);
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids,
       count(*) FILTER (WHERE e.r <= 2500) AS in_exact_2500
FROM got JOIN exact_l2 e USING (id);
RESET kyrodb.max_scan_tuples;
RESET plan_cache_mode;
DEALLOCATE nearest;
DROP TABLE got;
CREATE TEMP TABLE got (n serial, id int);

-- no LIMIT: the planner prefers a sequential scan and a sort of every row ...
EXPLAIN (COSTS OFF) SELECT id FROM shapes ORDER BY v <-> '[1,0.5,0,-0.5,-1,0,0.5,1]';
-- ... and the index, when told to use it, returns every row once
SET enable_seqscan = off;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT id FROM shapes ORDER BY v <-> '[1,0.5,0,-0.5,-1,0,0.5,1]';
INSERT INTO got (id) SELECT id FROM shapes ORDER BY v <-> '[1,0.5,0,-0.5,-1,0,0.5,1]';
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids,
       count(*) FILTER (WHERE got.n <= 10 AND e.r <= 10) AS first_10_exact
FROM got JOIN exact_l2 e USING (id);
TRUNCATE got;
-- a filter above the index that rejects all but 30 rows: all 30 come back,
-- past kyrodb.max_scan_tuples as an exact scan
SET kyrodb.max_scan_tuples = 100;
INSERT INTO got (id) SELECT id FROM shapes WHERE body LIKE '%00' ORDER BY v <-> '[1,0.5,0,-0.5,-1,0,0.5,1]' LIMIT 30;
SELECT count(*) AS rows, count(*) FILTER (WHERE id % 100 = 0) AS matching FROM got;
RESET kyrodb.max_scan_tuples;
RESET enable_sort;
RESET enable_seqscan;
DROP TABLE shapes, got;
