-- ALTER EXTENSION kyrodb UPDATE from 0.1.0 and from 0.2.0. This library
-- cannot run those versions' install scripts: their C functions name entry
-- points it no longer exports (vector_in, ..., now kyrodb_vector_in, ...). So
-- the test turns a fresh database into the catalog an older one has: the type's
-- C functions named by their SQL names, the version set back, and for 0.1.0
-- without the filter columns' operator classes. An index built before the
-- update keeps answering after it.
DROP EXTENSION kyrodb CASCADE;
CREATE EXTENSION kyrodb;
SELECT count(*) AS members FROM pg_depend
WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'kyrodb') AND deptype = 'e' \gset
CREATE TABLE upd (id int PRIMARY KEY, v vector(3), tag int);
INSERT INTO upd SELECT i, ARRAY[sin(i), cos(i), i % 7]::vector, i % 5 FROM generate_series(1, 500) i;
CREATE INDEX upd_v ON upd USING kyrodb (v);
-- a 0.1.0 database
SELECT count(*) AS renamed_c_functions FROM pg_proc
WHERE probin = '$libdir/kyrodb' AND prosrc = 'kyrodb_' || proname;
UPDATE pg_proc SET prosrc = proname WHERE probin = '$libdir/kyrodb' AND prosrc = 'kyrodb_' || proname;
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT c.opcname FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
             WHERE a.amname = 'kyrodb' AND c.opcname NOT LIKE 'vector%' LOOP
        EXECUTE format('ALTER EXTENSION kyrodb DROP OPERATOR CLASS %I USING kyrodb', f.opcname);
    END LOOP;
    FOR f IN SELECT o.opfname FROM pg_opfamily o JOIN pg_am a ON a.oid = o.opfmethod
             WHERE a.amname = 'kyrodb' AND o.opfname NOT LIKE 'vector%' LOOP
        EXECUTE format('ALTER EXTENSION kyrodb DROP OPERATOR FAMILY %I USING kyrodb', f.opfname);
        EXECUTE format('DROP OPERATOR FAMILY %I USING kyrodb', f.opfname);
    END LOOP;
END $$;
UPDATE pg_extension SET extversion = '0.1.0' WHERE extname = 'kyrodb';
-- what a 0.1.0 database says with this library, before the update
SELECT '[1,2,3]'::vector;
ALTER EXTENSION kyrodb UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'kyrodb';
SELECT count(*) = :members AS same_members_as_a_fresh_install FROM pg_depend
WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'kyrodb') AND deptype = 'e';
SELECT count(*) AS c_functions_on_old_names FROM pg_proc
WHERE probin = '$libdir/kyrodb' AND prosrc NOT LIKE 'kyrodb\_%';
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
RESET enable_seqscan;
-- a 0.2.0 database
UPDATE pg_proc SET prosrc = proname WHERE probin = '$libdir/kyrodb' AND prosrc = 'kyrodb_' || proname;
UPDATE pg_extension SET extversion = '0.2.0' WHERE extname = 'kyrodb';
ALTER EXTENSION kyrodb UPDATE;
SELECT extversion, '[1,2,3]'::vector <-> '[1,2,4]' AS distance FROM pg_extension WHERE extname = 'kyrodb';
DROP TABLE upd;
-- an old version cannot be installed new
DROP EXTENSION kyrodb;
CREATE EXTENSION kyrodb VERSION '0.1.0';
CREATE EXTENSION kyrodb;
SELECT extversion FROM pg_extension WHERE extname = 'kyrodb';
