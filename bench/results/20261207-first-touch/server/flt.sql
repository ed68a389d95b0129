SET kyrodb.cache = off; SET kyrodb.ef_search = 40; SET kyrodb.quantized_search = off;
CREATE OR REPLACE FUNCTION pg_temp.minflt() RETURNS bigint LANGUAGE sql AS $$ SELECT split_part(pg_read_file('/proc/'||pg_backend_pid()||'/stat'),' ',10)::bigint $$;
SELECT 'start', pg_temp.minflt();
SELECT count(*) FROM (SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM q WHERE id = 1) LIMIT 10) s;
SELECT 'after q1', pg_temp.minflt();
SELECT count(*) FROM (SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM q WHERE id = 1) LIMIT 10) s;
SELECT 'after q1 again', pg_temp.minflt();
SELECT count(*) FROM (SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM q WHERE id = 2) LIMIT 10) s;
SELECT 'after q2', pg_temp.minflt();
\timing on
SELECT count(*) FROM (SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM q WHERE id = 3) LIMIT 10) s;
SELECT count(*) FROM (SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM q WHERE id = 3) LIMIT 10) s;
\timing off
SELECT 'after q3 twice', pg_temp.minflt();
