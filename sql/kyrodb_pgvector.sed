# Makes kyrodb_pgvector's install script from kyrodb's (make does): the part
# after kyrodb's vector type (the index, its operator classes and functions),
# with pgvector's support functions (found on the search path, since the
# extension requires vector) and without kyrodb's testing-only functions.
1i\
-- kyrodb_pgvector: the kyrodb index on pgvector's own vector type, for\
-- databases where pgvector (extension "vector") is installed. The access\
-- method, its settings, functions and index format are those of the\
-- standalone kyrodb extension, served by the same library; only the vector\
-- type, its operators and their functions are pgvector's. pgvector's schema is\
-- on the search path while this script runs (requires = 'vector').\
-- Made from kyrodb--0.3.0.sql by sql/kyrodb_pgvector.sed: edit those.\
\\echo Use "CREATE EXTENSION kyrodb_pgvector CASCADE" to load this file. \\quit\

1,/^-- -* kyrodb$/{/^-- -* kyrodb$/!d}
/^-- Self-test of the C++\/Postgres error boundary/,/^REVOKE ALL ON FUNCTION kyrodb_debug_guard/d
/^-- Testing only: the crash points/,/^	AS 'MODULE_PATHNAME'/d
s/@extschema@\.\(vector_l2_squared_distance\|vector_negative_inner_product\|cosine_distance\)(/\1(/
