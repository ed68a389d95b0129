\set r random(1,1000)
SET kyrodb.quantized_search = on;
SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM q WHERE id = :r) LIMIT 10;
