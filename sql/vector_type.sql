-- Text input and output, type modifiers, and every input error.

-- round trips
SELECT '[1,2,3]'::vector;
SELECT '[-1,-2,-3]'::vector;
SELECT '[1.,2.,3.]'::vector;
SELECT ' [ 1,  2 ,    3  ] '::vector;
SELECT E'[\t1,\n2\r,3\f]'::vector;
SELECT '[1.23456789,0.1,1e-7,123456.7]'::vector;
SELECT '[-0,0,+1,+0.5]'::vector;
SELECT '[1e38,-1e38,3.4028235e38]'::vector;
SELECT '[1e-45,1.4e-45,-1e-40,1.17549435e-38]'::vector;
SELECT '[100000,1000000,0.0001,0.00001]'::vector;
SELECT '[0x10,-0X1p-2]'::vector;
SELECT '[1.000000000000000000000000000001]'::vector;
SELECT '[3.14159265358979323846264338327950288]'::vector;
-- underflow to zero is accepted, as by float4in's strtof
SELECT '[1e-50]'::vector;
-- output reads back as the same floats
SELECT v::text::vector = v AS round_trip
  FROM (SELECT ('[' || string_agg((random() * 10 ^ (random() * 70 - 35))::real::text, ',') || ']')::vector AS v
          FROM generate_series(1, 1000) GROUP BY (generate_series % 10)) s
 GROUP BY 1;
SELECT vector_dims(('[' || repeat('1,', 15999) || '1]')::vector);

-- type modifiers
SELECT '[1,2,3]'::vector(3);
SELECT '[1,2]'::vector(3);
SELECT '[1,2,3]'::vector(2);
SELECT '[1]'::vector(0);
SELECT '[1]'::vector(16001);
SELECT '[1]'::vector(1, 2);
SELECT '[1]'::vector('a');
CREATE TABLE typmod_t (v vector(3));
INSERT INTO typmod_t VALUES ('[1,2,3]');
INSERT INTO typmod_t VALUES ('[1,2]');
INSERT INTO typmod_t VALUES ('[1,2,3,4]'::vector);
UPDATE typmod_t SET v = '[1,2]'::vector;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'typmod_t'::regclass AND attname = 'v';
SELECT * FROM typmod_t;
DROP TABLE typmod_t;

-- NULL handling
SELECT NULL::vector;
SELECT vector_dims(NULL), l2_distance(NULL, '[1]'), '[1]'::vector <-> NULL;

-- errors
SELECT ''::vector;
SELECT '   '::vector;
SELECT '1,2,3'::vector;
SELECT '(1,2,3)'::vector;
SELECT '[]'::vector;
SELECT '[  ]'::vector;
SELECT '['::vector;
SELECT '[1'::vector;
SELECT '[1,'::vector;
SELECT '[1,]'::vector;
SELECT '[,1]'::vector;
SELECT '[1,,2]'::vector;
SELECT '[1 2]'::vector;
SELECT '[1;2]'::vector;
SELECT '[a]'::vector;
SELECT '[1a]'::vector;
SELECT '[1e]'::vector;
SELECT '[+-1]'::vector;
SELECT '[--1]'::vector;
SELECT '[1,2]]'::vector;
SELECT '[1,2] x'::vector;
SELECT '[1][2]'::vector;
SELECT '[NaN]'::vector;
SELECT '[nan,1]'::vector;
SELECT '[Infinity]'::vector;
SELECT '[-inf]'::vector;
SELECT '[1e39]'::vector;
SELECT '[-4e38]'::vector;
SELECT '[1e400]'::vector;
SELECT ('[' || repeat('1,', 16000) || '1]')::vector;
