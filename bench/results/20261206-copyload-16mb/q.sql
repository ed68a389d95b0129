\set id random(1, 200000)
select id from items order by embedding <-> (select embedding from items where id = :id) limit 10;
