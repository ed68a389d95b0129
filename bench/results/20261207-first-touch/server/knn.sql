\set r random(1,1000)
SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM q WHERE id = :r) LIMIT 10;
