# Concurrent INSERT, DELETE, SELECT, VACUUM and kyrodb_flush run without
# errors, and afterwards every row is indexed and recall is intact.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

# Embedding-like data (uniform random vectors are a poor stand-in: HNSW
# recall on them says more about the data than the index).
my $datagen = $ENV{KYRODB_DATAGEN} or die "KYRODB_DATAGEN is not set";
my $node = kyrodb_node('concurrency');
$node->safe_psql('postgres', q(
	CREATE TABLE items (id bigint PRIMARY KEY, v vector(32));
	CREATE TABLE qpool (id bigint PRIMARY KEY, v vector(32));));
copy_from_command($node, 'items', "$datagen synthetic 20000 32 1");
copy_from_command($node, 'qpool', "$datagen synthetic 200 32 2");
$node->safe_psql('postgres', q(
	CREATE SEQUENCE ids START 20001;
	ALTER TABLE items ALTER id SET DEFAULT nextval('ids');
	CREATE INDEX items_idx ON items USING kyrodb (v);
	-- The cache against no cache while the others write: one query with the
	-- cache off, then twice with it on (a miss that stores, then a hit), in one
	-- REPEATABLE READ transaction so that heap visibility stays put; compared
	-- when the index did not change meanwhile (same generation, same hot tier).
	CREATE TABLE compared (q bigint, same boolean);
	CREATE FUNCTION compare_cached(q bigint) RETURNS void LANGUAGE plpgsql AS $$
	DECLARE
	  before text; after text; off_ids bigint[]; miss_ids bigint[]; hit_ids bigint[];
	  qv vector := (SELECT v FROM qpool WHERE id = q);
	BEGIN
	  SET LOCAL enable_seqscan = off;
	  before := (SELECT generation || '/' || hot_rows FROM kyrodb_index_stats('items_idx'));
	  PERFORM set_config('kyrodb.cache', 'off', true);
	  off_ids := ARRAY(SELECT id FROM items ORDER BY v <-> qv LIMIT 10);
	  PERFORM set_config('kyrodb.cache', 'on', true);
	  miss_ids := ARRAY(SELECT id FROM items ORDER BY v <-> qv LIMIT 10);
	  hit_ids := ARRAY(SELECT id FROM items ORDER BY v <-> qv LIMIT 10);
	  after := (SELECT generation || '/' || hot_rows FROM kyrodb_index_stats('items_idx'));
	  IF before = after THEN
	    INSERT INTO compared VALUES (q, off_ids = miss_ids AND off_ids = hit_ids);
	  END IF;
	END $$;));

my %scripts = (
	# a random existing row plus small noise (nothing when that row was deleted)
	'insert.sql' => "\\set id random(1, 20000)\nINSERT INTO items (v) SELECT v + (SELECT array_agg((random() - 0.5) * 0.02)::vector FROM generate_series(1, 32)) FROM items WHERE id = :id;\n",
	'delete.sql' => "\\set id random(1, 20000)\nDELETE FROM items WHERE id = :id;\n",
	'query.sql' => "\\set q random(1, 200)\nSELECT id FROM items ORDER BY v <-> (SELECT v FROM qpool WHERE id = :q) LIMIT 10;\n",
	'filtered.sql' => "\\set q random(1, 200)\nSELECT id FROM items WHERE id % 7 = 0 ORDER BY v <-> (SELECT v FROM qpool WHERE id = :q) LIMIT 10;\n",
	'vacuum.sql' => "VACUUM items;\n",
	'flush.sql' => "SELECT kyrodb_flush('items_idx');\n",
	'compare.sql' => "\\set q random(1, 200)\nBEGIN ISOLATION LEVEL REPEATABLE READ;\nSELECT compare_cached(:q);\nCOMMIT;\n",
);
my @files = pgbench_files(\%scripts, { 'insert.sql' => 40, 'delete.sql' => 15, 'query.sql' => 40, 'filtered.sql' => 10,
	'vacuum.sql' => 1, 'flush.sql' => 1, 'compare.sql' => 10 });
$node->command_ok(['pgbench', '-n', '-c', '4', '-j', '2', '-T', '20', @files,
	'-h', $node->host, '-p', $node->port, 'postgres'], 'concurrent workload finishes without errors');

my ($compared, $differing) = split /\|/, $node->safe_psql('postgres',
	'SELECT count(*), count(*) FILTER (WHERE NOT same) FROM compared');
cmp_ok($compared, '>=', 20, "queries compared with and without the cache during the workload ($compared)");
is($differing, '0', 'the cache answered every one of them as the index does without it');
cmp_ok($node->safe_psql('postgres', q(SELECT hits FROM kyrodb_cache_stats() WHERE index = 'items_idx'::regclass)),
	'>', 0, 'the cache hit during the workload');

is(rows_not_found($node, 'items'), '0', 'every row is indexed after the workload');
diag('index after the workload (segments|elements|tombstones|hot rows|generation|pages): '
	  . $node->safe_psql('postgres', "SELECT * FROM kyrodb_index_stats('items_idx')"));
my $recall = $node->safe_psql('postgres', q(
	SET enable_indexscan = off;
	CREATE TABLE truth AS SELECT id AS qid, ARRAY(SELECT i.id FROM items i ORDER BY i.v <-> q.v LIMIT 10) AS ids FROM qpool q;
	RESET enable_indexscan;
	SET enable_seqscan = off;
	SELECT round(avg((SELECT count(*) FROM unnest(ARRAY(SELECT i.id FROM items i ORDER BY i.v <-> q.v LIMIT 10)) x
	                  WHERE x = ANY (t.ids)) / 10.0), 3)
	  FROM qpool q JOIN truth t ON t.qid = q.id;));
cmp_ok($recall, '>=', 0.95, "recall\@10 at the default ef_search after the workload ($recall)");

done_testing();
