-- Queries the demo shows: documents most similar to a given one, by the
-- cosine distance of their all-MiniLM-L6-v2 embeddings.
\pset footer off
\echo
SELECT count(*) AS documents, (SELECT vector_dims(embedding) FROM docs LIMIT 1) AS dimensions, kyrodb_simd() AS simd FROM docs;
\timing on

\echo
\echo 'Documents most similar to #1:'
SELECT left(title, 90) AS title FROM docs WHERE id = 1;
SELECT d.id, left(d.title, 80) AS title, round((d.embedding <=> q.embedding)::numeric, 4) AS cosine_distance
  FROM docs d, (SELECT embedding FROM docs WHERE id = 1) q
 WHERE d.id <> 1
 ORDER BY d.embedding <=> q.embedding LIMIT 5;

\echo
\echo 'Documents most similar to #400:'
SELECT left(title, 90) AS title FROM docs WHERE id = 400;
SELECT d.id, left(d.title, 80) AS title, round((d.embedding <=> q.embedding)::numeric, 4) AS cosine_distance
  FROM docs d, (SELECT embedding FROM docs WHERE id = 400) q
 WHERE d.id <> 400
 ORDER BY d.embedding <=> q.embedding LIMIT 5;

\echo
\echo 'The plan: the kyrodb index answers ORDER BY embedding <=> ... LIMIT'
EXPLAIN (COSTS OFF) SELECT d.id FROM docs d ORDER BY d.embedding <=> (SELECT embedding FROM docs WHERE id = 1) LIMIT 5;
SELECT d.id FROM docs d ORDER BY d.embedding <=> (SELECT embedding FROM docs WHERE id = 1) LIMIT 5;
\echo 'The index, and its segment image in shared memory, searched in place by every connection:'
SELECT * FROM kyrodb_index_stats('docs_embedding_idx');
SELECT state, pg_size_pretty(size_bytes) AS size, pg_size_pretty(used_bytes) AS used, images FROM kyrodb_memory();

\echo
\echo 'The average embedding of a category, and the documents nearest to it:'
SELECT d.id, d.category, left(d.title, 70) AS title, round((d.embedding <=> c.centre)::numeric, 4) AS cosine_distance
  FROM docs d, (SELECT avg(embedding) AS centre FROM docs WHERE category = (SELECT category FROM docs WHERE id = 1)) c
 ORDER BY d.embedding <=> c.centre LIMIT 5;
