# Concurrent INSERT, DELETE, SELECT, VACUUM and kyrodb_flush run without
# errors, and afterwards every row is indexed and recall is intact.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

my $node = kyrodb_node('concurrency');
$node->safe_psql('postgres', q(
	CREATE SEQUENCE ids;
	CREATE TABLE items (id bigint PRIMARY KEY DEFAULT nextval('ids'), v vector(32));
	INSERT INTO items (v) SELECT (SELECT array_agg(random()) FROM generate_series(1, 32) WHERE g > 0)::vector
	  FROM generate_series(1, 20000) g;
	CREATE INDEX items_idx ON items USING kyrodb (v);));

my %scripts = (
	'insert.sql' => "INSERT INTO items (v) SELECT array_agg(random())::vector FROM generate_series(1, 32);\n",
	'delete.sql' => "\\set id random(1, 20000)\nDELETE FROM items WHERE id = :id;\n",
	'query.sql' => "SELECT id FROM items ORDER BY v <-> (SELECT array_agg(random())::vector FROM generate_series(1, 32)) LIMIT 10;\n",
	'filtered.sql' => "SELECT id FROM items WHERE id % 7 = 0 ORDER BY v <-> (SELECT array_agg(random())::vector FROM generate_series(1, 32)) LIMIT 10;\n",
	'vacuum.sql' => "VACUUM items;\n",
	'flush.sql' => "SELECT kyrodb_flush('items_idx');\n",
);
my @files;
while (my ($name, $body) = each %scripts) {
	my $path = "${PostgreSQL::Test::Utils::tmp_check}/$name";
	open my $f, '>', $path or die;
	print $f $body;
	close $f;
	my $weight = { 'insert.sql' => 40, 'delete.sql' => 15, 'query.sql' => 40, 'filtered.sql' => 10,
	               'vacuum.sql' => 1, 'flush.sql' => 1 }->{$name};
	push @files, '-f', "$path\@$weight";
}
$node->command_ok(['pgbench', '-n', '-c', '4', '-j', '2', '-T', '20', @files,
	'-h', $node->host, '-p', $node->port, 'postgres'], 'concurrent workload finishes without errors');

is(rows_not_found($node, 'items'), '0', 'every row is indexed after the workload');
diag('index after the workload (segments|elements|tombstones|hot rows|generation|pages): '
	  . $node->safe_psql('postgres', "SELECT * FROM kyrodb_index_stats('items_idx')"));
# Uniform random vectors are the hard case for HNSW (a fresh index of this
# table reaches about 0.87 at ef_search 40): recall is checked at 100.
my $recall = $node->safe_psql('postgres', q(
	CREATE TABLE queries AS SELECT g AS qid, (SELECT array_agg(random()) FROM generate_series(1, 32) WHERE g > 0)::vector AS v
	  FROM generate_series(1, 50) g;
	SET enable_indexscan = off;
	CREATE TABLE truth AS SELECT qid, ARRAY(SELECT id FROM items i ORDER BY i.v <-> q.v LIMIT 10) AS ids FROM queries q;
	RESET enable_indexscan;
	SET enable_seqscan = off;
	SET kyrodb.ef_search = 100;
	SELECT round(avg((SELECT count(*) FROM unnest(ARRAY(SELECT id FROM items i ORDER BY i.v <-> q.v LIMIT 10)) x
	                  WHERE x = ANY (t.ids)) / 10.0), 3)
	  FROM queries q JOIN truth t USING (qid);));
cmp_ok($recall, '>=', 0.95, "recall\@10 at ef_search 100 after the workload ($recall)");

done_testing();
