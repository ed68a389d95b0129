-- kyrodb_pgvector: the kyrodb index on pgvector's own vector type, for
-- databases where pgvector (extension "vector") is installed. The access
-- method, its settings, functions and index format are those of the
-- standalone kyrodb extension, served by the same library; only the vector
-- type, its operators and their functions are pgvector's. pgvector's schema is
-- on the search path while this script runs (requires = 'vector').
\echo Use "CREATE EXTENSION kyrodb_pgvector CASCADE" to load this file. \quit

-- ---------------------------------------------------------------- kyrodb

-- The instruction set the distance kernels use on this server.
CREATE FUNCTION kyrodb_simd() RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- ---------------------------------------------------------------- index

CREATE FUNCTION kyrodb_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE ACCESS METHOD kyrodb TYPE INDEX HANDLER @extschema@.kyrodb_handler;
COMMENT ON ACCESS METHOD kyrodb IS 'kyrodb: HNSW segments and a hot tier, for ORDER BY vector distance';

CREATE OPERATOR CLASS vector_l2_ops
	DEFAULT FOR TYPE vector USING kyrodb AS
	OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 vector_l2_squared_distance(vector, vector);
CREATE OPERATOR CLASS vector_ip_ops
	FOR TYPE vector USING kyrodb AS
	OPERATOR 1 <#> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 vector_negative_inner_product(vector, vector);
CREATE OPERATOR CLASS vector_cosine_ops
	FOR TYPE vector USING kyrodb AS
	OPERATOR 1 <=> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 cosine_distance(vector, vector);

-- Moves the hot tier of a kyrodb index into a new segment now; returns the rows moved.
CREATE FUNCTION kyrodb_flush(index regclass) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

-- Loads every segment image of a kyrodb index into shared memory (or, when
-- kyrodb is not preloaded, into this connection); returns the segments in memory.
CREATE FUNCTION kyrodb_prewarm(index regclass) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

-- The state of a kyrodb index: its segments, hot tier, generation, pages (and
-- those free for reuse), and its segment images in the shared pool and in this
-- connection.
CREATE FUNCTION kyrodb_index_stats(index regclass, OUT segments integer, OUT elements bigint,
	OUT tombstones bigint, OUT hot_rows bigint, OUT generation bigint, OUT pages bigint,
	OUT free_pages bigint, OUT images_shared integer, OUT images_local integer, OUT memory_bytes bigint)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

-- The shared pool of segment images (kyrodb.shared_memory_size) and the
-- result cache (kyrodb.cache_size).
CREATE FUNCTION kyrodb_memory(OUT state text, OUT size_bytes bigint, OUT used_bytes bigint,
	OUT images integer, OUT pinned integer, OUT loads bigint, OUT load_bytes bigint,
	OUT load_seconds double precision, OUT evictions bigint, OUT refused bigint,
	OUT cache_state text, OUT cache_size_bytes bigint, OUT cache_used_bytes bigint,
	OUT cache_entries bigint)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

-- The result cache, per index of this database and in total (index null).
CREATE FUNCTION kyrodb_cache_stats(OUT index regclass, OUT entries bigint, OUT bytes bigint,
	OUT lookups bigint, OUT hits bigint, OUT misses bigint, OUT parts_refreshed bigint,
	OUT proactive_refreshes bigint, OUT admissions_refused bigint, OUT evictions bigint,
	OUT model_refits bigint, OUT model_trained boolean, OUT last_scan text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

-- Drops the cached results of one index (its table's owner) or, with null,
-- of every index (superuser); returns the entries dropped.
CREATE FUNCTION kyrodb_cache_reset(index regclass DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- Checks a kyrodb index (metapage, directory, every page's owner, hot tier,
-- segment images, tombstones) and, with heapallindexed, that every row the
-- table shows is indexed exactly once with its vector; raises an error naming
-- the first problem.
CREATE FUNCTION kyrodb_verify_index(index regclass, heapallindexed boolean DEFAULT false) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

-- ---------------------------------------------------------------- filter columns

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
