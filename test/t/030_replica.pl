# A streaming hot standby answers index scans exactly as the primary does,
# and picks up segments the primary publishes (build, inserts, flush, vacuum);
# it plans no index-only scans.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

my $primary = kyrodb_node('primary', allows_streaming => 1);
$primary->safe_psql('postgres', q(
	CREATE TABLE items (id int PRIMARY KEY, v vector(24));
	INSERT INTO items SELECT g, (SELECT array_agg(sin(g * 0.7 + j) + cos(g * 0.013 * j)) FROM generate_series(1, 24) j)::vector
	  FROM generate_series(1, 20000) g;
	CREATE INDEX items_idx ON items USING kyrodb (v);));
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# The answers of 50 queries, as one text to compare.
my $answers = q(
	SET enable_seqscan = off;
	SELECT string_agg(ids, E'\n' ORDER BY q) FROM (
	  SELECT q, array_to_string(ARRAY(SELECT id FROM items ORDER BY v <-> (
	      SELECT array_agg(cos(q * 1.1 + j))::vector FROM generate_series(1, 24) j) LIMIT 10), ',') AS ids
	    FROM generate_series(1, 50) q) a);

# Up to the insert position: a flush or merge that assigned no transaction id
# commits without flushing WAL, so its records can still be in the WAL buffers,
# past the write position wait_for_catchup would wait for by default.
sub same_answers {
	my ($what) = @_;
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	my $p = $primary->safe_psql('postgres', $answers);
	is($standby->safe_psql('postgres', $answers), $p, "standby answers as the primary: $what");
}

same_answers('after the build');
$primary->safe_psql('postgres', q(
	INSERT INTO items SELECT g, (SELECT array_agg(cos(g * 1.1 + j)) FROM generate_series(1, 24) j WHERE g > 0)::vector
	  FROM generate_series(20001, 20050) g;));
same_answers('rows in the hot tier');
is($standby->safe_psql('postgres', q(SET enable_seqscan = off;
	SELECT id FROM items ORDER BY v <-> (SELECT array_agg(cos(20007 * 1.1 + j))::vector FROM generate_series(1, 24) j) LIMIT 1)),
	'20007', 'standby finds a row inserted on the primary');
$primary->safe_psql('postgres', "SELECT kyrodb_flush('items_idx')");
same_answers('a flushed segment');
$primary->safe_psql('postgres', 'DELETE FROM items WHERE id % 4 = 0');
$primary->safe_psql('postgres', 'VACUUM items');
same_answers('tombstones from VACUUM');
is($standby->safe_psql('postgres', q(SET enable_seqscan = off;
	SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM items WHERE id = 1) LIMIT 5000) a WHERE id % 4 = 0)),
	'0', 'standby never returns deleted rows');

# Two small flushed segments merge (the base is far larger): replay replaces
# segments the standby's cached results covered.
$primary->safe_psql('postgres', q(
	INSERT INTO items SELECT g, (SELECT array_agg(cos(g * 1.3 + j)) FROM generate_series(1, 24) j WHERE g > 0)::vector
	  FROM generate_series(20051, 20110) g;
	SELECT kyrodb_flush('items_idx');));
same_answers('a merge of the small segments');
is($standby->safe_psql('postgres', q(SELECT segments FROM kyrodb_index_stats('items_idx'))), '2',
	'the two flushed segments were merged');
my $uncached = $standby->safe_psql('postgres', "SET kyrodb.cache = off; $answers");
is($standby->safe_psql('postgres', $answers), $uncached, 'standby: answers from its cache equal answers without it');
is($standby->safe_psql('postgres', q(
	SELECT hits > 0, parts_refreshed > 0 FROM kyrodb_cache_stats() WHERE index = 'items_idx'::regclass)),
	't|t', 'the standby\'s cache hit, and searched again the parts that replay made stale');

# An index-only scan on the primary; the standby plans a plain index scan
# (it cannot make replay of a VACUUM wait for its scans) and returns the same.
$primary->safe_psql('postgres', q(
	CREATE INDEX items_io ON items USING kyrodb (v) INCLUDE (id);
	INSERT INTO items SELECT g, (SELECT array_agg(sin(g * 0.9 + j)) FROM generate_series(1, 24) j)::vector
	  FROM generate_series(20111, 20140) g;
	VACUUM items;));
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
my $io = q(SET enable_seqscan = off; SET kyrodb.cache = off;
	SELECT array_agg(id), count(*) FILTER (WHERE NOT EXISTS (SELECT FROM items h WHERE h.id = s.id AND h.v = s.v)) FROM (
	  SELECT id, v FROM items ORDER BY v <-> (SELECT array_agg(sin(20115 * 0.9 + j))::vector FROM generate_series(1, 24) j)
	  LIMIT 30) s);
my $standby_plan = $standby->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id, v
	FROM items ORDER BY v <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24]' LIMIT 3");
like($standby_plan, qr/Index Scan using items_/, 'the standby plans an index scan');
unlike($standby_plan, qr/Index Only Scan/, 'not an index-only one');
like($primary->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id, v FROM items
	ORDER BY v <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24]' LIMIT 3"),
	qr/Index Only Scan using items_io/, 'where the primary plans an index-only scan');
my $io_primary = $primary->safe_psql('postgres', $io);
like($io_primary, qr/^\{20115,.*\}\|0$/, 'the primary\'s index-only scan returns table rows, nearest first');
is($standby->safe_psql('postgres', $io), $io_primary, 'the standby\'s scan returns the same');

# a standby refuses a flush before building anything
my ($ret, $out, $err) = $standby->psql('postgres', "SELECT kyrodb_flush('items_idx')");
like($err, qr/recovery is in progress/, 'kyrodb_flush on a standby fails at once');
# an unlogged index's init fork reaches the standby (written through smgr and WAL-logged)
$primary->safe_psql('postgres', q(
	CREATE UNLOGGED TABLE scratch (id int, v vector(4));
	CREATE INDEX scratch_idx ON scratch USING kyrodb (v);));
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'promotion failed';
is($standby->safe_psql('postgres', q(
	INSERT INTO scratch SELECT g, ARRAY[g, 1, 2, 3] FROM generate_series(1, 100) g;
	SELECT kyrodb_verify_index('scratch_idx', true);
	SET enable_seqscan = off;
	SELECT id FROM scratch ORDER BY v <-> '[7,1,2,3]' LIMIT 1;)), "\n7",
	'after promotion an unlogged kyrodb index starts empty and works');

done_testing();
