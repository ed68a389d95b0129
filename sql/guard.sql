-- The C++/Postgres error boundary: errors raised inside C++ frames become
-- ordinary Postgres errors, C++ destructors run, the backend carries on.
SELECT kyrodb_debug_guard('count');
SELECT kyrodb_debug_guard('cxx');
SELECT kyrodb_debug_guard('oom');
SELECT kyrodb_debug_guard('pg');
SELECT kyrodb_debug_guard('bogus');
-- every probe object was destroyed: no destructor was skipped by a longjmp
SELECT kyrodb_debug_guard('count');
-- the same backend still answers
SELECT '[1,2,3]'::vector <-> '[1,2,4]';
-- an error inside a transaction rolls back like any other
BEGIN;
CREATE TABLE guard_t (v vector);
INSERT INTO guard_t VALUES ('[1]');
SAVEPOINT s;
SELECT kyrodb_debug_guard('pg');
ROLLBACK TO s;
SELECT count(*) FROM guard_t;
COMMIT;
DROP TABLE guard_t;
-- only a superuser may call it
CREATE ROLE guard_user;
SET ROLE guard_user;
SELECT kyrodb_debug_guard('count');
RESET ROLE;
DROP ROLE guard_user;
SELECT kyrodb_simd() IN ('scalar', 'avx2', 'avx512') AS simd_known;
