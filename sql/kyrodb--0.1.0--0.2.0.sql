-- kyrodb 0.2.0: filter columns. A kyrodb index may list columns after the
-- vector; the index stores their values per element and answers comparisons
-- on them inside the vector search:
--   CREATE INDEX ON docs USING kyrodb (embedding vector_cosine_ops, tenant_id, lang);
-- Ordered types answer <, <=, =, >=, > (and so BETWEEN and = ANY); text,
-- varchar and uuid are stored as hashes and answer = only; int4[], int8[] and
-- text[] answer && and @>.
\echo Use "ALTER EXTENSION kyrodb UPDATE TO '0.2.0'" to load this file. \quit


CREATE OPERATOR FAMILY kyrodb_integer_ops USING kyrodb;

CREATE OPERATOR CLASS int2_ops
	DEFAULT FOR TYPE int2 USING kyrodb FAMILY kyrodb_integer_ops AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >;

CREATE OPERATOR CLASS int4_ops
	DEFAULT FOR TYPE int4 USING kyrodb FAMILY kyrodb_integer_ops AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >;

CREATE OPERATOR CLASS int8_ops
	DEFAULT FOR TYPE int8 USING kyrodb FAMILY kyrodb_integer_ops AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >;

-- Comparisons across integer widths (int4_column = 3::int8) are exact too.
ALTER OPERATOR FAMILY kyrodb_integer_ops USING kyrodb ADD
	OPERATOR 1 < (int2, int4),
	OPERATOR 2 <= (int2, int4),
	OPERATOR 3 = (int2, int4),
	OPERATOR 4 >= (int2, int4),
	OPERATOR 5 > (int2, int4),
	OPERATOR 1 < (int2, int8),
	OPERATOR 2 <= (int2, int8),
	OPERATOR 3 = (int2, int8),
	OPERATOR 4 >= (int2, int8),
	OPERATOR 5 > (int2, int8),
	OPERATOR 1 < (int4, int2),
	OPERATOR 2 <= (int4, int2),
	OPERATOR 3 = (int4, int2),
	OPERATOR 4 >= (int4, int2),
	OPERATOR 5 > (int4, int2),
	OPERATOR 1 < (int4, int8),
	OPERATOR 2 <= (int4, int8),
	OPERATOR 3 = (int4, int8),
	OPERATOR 4 >= (int4, int8),
	OPERATOR 5 > (int4, int8),
	OPERATOR 1 < (int8, int2),
	OPERATOR 2 <= (int8, int2),
	OPERATOR 3 = (int8, int2),
	OPERATOR 4 >= (int8, int2),
	OPERATOR 5 > (int8, int2),
	OPERATOR 1 < (int8, int4),
	OPERATOR 2 <= (int8, int4),
	OPERATOR 3 = (int8, int4),
	OPERATOR 4 >= (int8, int4),
	OPERATOR 5 > (int8, int4);

CREATE OPERATOR CLASS bool_ops
	DEFAULT FOR TYPE bool USING kyrodb AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >;

CREATE OPERATOR CLASS date_ops
	DEFAULT FOR TYPE date USING kyrodb AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >;

CREATE OPERATOR CLASS timestamp_ops
	DEFAULT FOR TYPE timestamp USING kyrodb AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >;

CREATE OPERATOR CLASS timestamptz_ops
	DEFAULT FOR TYPE timestamptz USING kyrodb AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >;

CREATE OPERATOR CLASS text_ops
	DEFAULT FOR TYPE text USING kyrodb AS
	OPERATOR 3 =;

CREATE OPERATOR CLASS uuid_ops
	DEFAULT FOR TYPE uuid USING kyrodb AS
	OPERATOR 3 =;

-- Arrays are stored as a 64-bit signature of their elements and answer
-- overlap and containment (rechecked by the executor).
CREATE OPERATOR CLASS int4_array_ops
	DEFAULT FOR TYPE int4[] USING kyrodb AS
	OPERATOR 6 && (anyarray, anyarray),
	OPERATOR 7 @> (anyarray, anyarray);

CREATE OPERATOR CLASS int8_array_ops
	DEFAULT FOR TYPE int8[] USING kyrodb AS
	OPERATOR 6 && (anyarray, anyarray),
	OPERATOR 7 @> (anyarray, anyarray);

CREATE OPERATOR CLASS text_array_ops
	DEFAULT FOR TYPE text[] USING kyrodb AS
	OPERATOR 6 && (anyarray, anyarray),
	OPERATOR 7 @> (anyarray, anyarray);
