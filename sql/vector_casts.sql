-- Casts between vector and arrays.
SELECT ARRAY[1,2,3]::vector, ARRAY[1.5,2.5]::real[]::vector, ARRAY[1.5,2.5]::double precision[]::vector;
SELECT ARRAY[1.5,2.25]::numeric[]::vector;
SELECT '{1,2,3}'::int[]::vector(3);
SELECT '[1,2,3]'::vector::real[];
SELECT '[1.5,-2.5]'::vector::double precision[];
SELECT '[1.5,-2.5,2.4]'::vector::integer[];
SELECT '[0.1,-2.5]'::vector::numeric[];
SELECT '[3e38]'::vector::integer[];
SELECT array_to_vector('{4,5}'::int[], -1, false);
-- assignment casts
CREATE TABLE cast_t (v vector(2));
INSERT INTO cast_t VALUES (ARRAY[1,2]), (ARRAY[1.5,2.5]::real[]), (ARRAY[3.5,4.5]::float8[]), (ARRAY[5.5,6.5]::numeric[]);
SELECT * FROM cast_t;
INSERT INTO cast_t VALUES (ARRAY[1,2,3]);
DROP TABLE cast_t;
-- implicit cast to real[] lets array functions work
SELECT array_length('[1,2,3]'::vector::real[], 1);
-- errors
SELECT '{}'::int[]::vector;
SELECT '{{1,2},{3,4}}'::int[]::vector;
SELECT '{1,NULL,3}'::int[]::vector;
SELECT '{1,2}'::int[]::vector(3);
SELECT '{NaN}'::real[]::vector;
SELECT '{Infinity}'::double precision[]::vector;
SELECT '{1e300}'::double precision[]::vector;
SELECT '{NaN}'::numeric[]::vector;
SELECT '{1e40}'::numeric[]::vector;
SELECT ARRAY[1,2]::bigint[]::vector;
SELECT array_fill(1, ARRAY[16001])::vector;
