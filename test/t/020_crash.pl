# Crash recovery: kill -9 every server process during a stream of committed
# inserts and during a flush; after restart every committed row is still
# indexed, and the index keeps working.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;
use Time::HiRes qw(usleep);

my $node = kyrodb_node('crash');
$node->safe_psql('postgres', q(
	CREATE SEQUENCE ids;
	CREATE TABLE items (id bigint PRIMARY KEY DEFAULT nextval('ids'), v vector(32));
	INSERT INTO items (v) SELECT (SELECT array_agg(random()) FROM generate_series(1, 32) WHERE g > 0)::vector
	  FROM generate_series(1, 5000) g;
	CREATE INDEX items_idx ON items USING kyrodb (v);));

# ---- a stream of single-row transactions, crashed midway
my $script = "${PostgreSQL::Test::Utils::tmp_check}/insert.sql";
open my $f, '>', $script or die;
print $f "INSERT INTO items (v) SELECT array_agg(random())::vector FROM generate_series(1, 32);\n";
close $f;
my ($out, $err) = ('', '');
my $stream = IPC::Run::start(['pgbench', '-n', '-c', '2', '-T', '60', '-f', $script,
	'-h', $node->host, '-p', $node->port, 'postgres'], '>', \$out, '2>', \$err);
$node->poll_query_until('postgres', 'SELECT count(*) > 7000 FROM items') or die 'inserts did not start';
crash_and_restart($node);
$stream->finish;    # pgbench lost its connections: its exit status says nothing here
my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
cmp_ok($rows, '>', 7000, "the insert stream committed rows before the crash ($rows)");
is(rows_not_found($node, 'items'), '0', 'every committed row is indexed after recovery');

# ---- a flush of a large hot tier, crashed while it builds or writes
$node->safe_psql('postgres', q(
	INSERT INTO items (v) SELECT (SELECT array_agg(random()) FROM generate_series(1, 32) WHERE g > 0)::vector
	  FROM generate_series(1, 20000) g;));
my $flush = IPC::Run::start(['psql', '-X', '-d', $node->connstr('postgres'), '-c',
	"SELECT kyrodb_flush('items_idx')"], '>', \$out, '2>', \$err);
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'SELECT kyrodb_flush%'") or die 'no flush';
usleep(300_000);
crash_and_restart($node);
$flush->finish;
is(rows_not_found($node, 'items'), '0', 'every row is indexed after a crash during a flush');

# the index still takes inserts and flushes after both crashes
$node->safe_psql('postgres', q(
	INSERT INTO items (v) SELECT (SELECT array_agg(random()) FROM generate_series(1, 32) WHERE g > 0)::vector
	  FROM generate_series(1, 100) g;));
# (the background worker may have flushed part of the hot tier already)
$node->safe_psql('postgres', "SELECT kyrodb_flush('items_idx')");
is($node->safe_psql('postgres', "SELECT hot_rows FROM kyrodb_index_stats('items_idx')"), '0',
	'a later flush succeeds');
is(rows_not_found($node, 'items'), '0', 'every row is indexed after the later flush');
is($node->safe_psql('postgres', q(
	SET kyrodb.max_scan_tuples = 100000; SET enable_seqscan = off;
	SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> array_fill(0.5, ARRAY[32])::vector LIMIT 100000) a)),
	$node->safe_psql('postgres', 'SELECT count(*) FROM items'), 'a full index scan returns every row once');

done_testing();
