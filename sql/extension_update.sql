-- ALTER EXTENSION kyrodb UPDATE from 0.1.0: an index built before the update
-- keeps answering, and the update brings the filter columns' operator classes.
DROP EXTENSION kyrodb CASCADE;
CREATE EXTENSION kyrodb VERSION '0.1.0';
CREATE TABLE upd (id int PRIMARY KEY, v vector(3), tag int);
INSERT INTO upd SELECT i, ARRAY[sin(i), cos(i), i % 7]::vector, i % 5 FROM generate_series(1, 500) i;
CREATE INDEX upd_v ON upd USING kyrodb (v);
CREATE INDEX ON upd USING kyrodb (v, tag);
ALTER EXTENSION kyrodb UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'kyrodb';
SET enable_seqscan = off;
SELECT array_agg(id) FROM (SELECT id FROM upd ORDER BY v <-> '[0,1,3]' LIMIT 5) s;
SET enable_indexscan = off;
SET enable_seqscan = on;
SELECT array_agg(id) FROM (SELECT id FROM upd ORDER BY v <-> '[0,1,3]' LIMIT 5) s;
RESET enable_indexscan;
SET enable_seqscan = off;
CREATE INDEX upd_v_tag ON upd USING kyrodb (v, tag);
EXPLAIN (COSTS OFF) SELECT id FROM upd WHERE tag = 2 ORDER BY v <-> '[0,1,3]' LIMIT 5;
SELECT count(*) FILTER (WHERE tag <> 2) AS wrong, count(*) AS rows
FROM (SELECT id, tag FROM upd WHERE tag = 2 ORDER BY v <-> '[0,1,3]' LIMIT 5) s;
DROP TABLE upd;
-- the same extension as a fresh CREATE EXTENSION gives
DROP EXTENSION kyrodb;
CREATE EXTENSION kyrodb;
SELECT extversion FROM pg_extension WHERE extname = 'kyrodb';
