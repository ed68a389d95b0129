# Every crash point (kyrodb_crash_points()), once with ERROR and once with
# PANIC (the WAL written so far made durable, then crash recovery): the point
# must be reached by its workload, and afterwards every committed row is
# found by its own vector, kyrodb_verify_index(..., true) passes (no page
# leaked or owned twice, nothing indexed twice or with another vector), and
# inserts, flushes and VACUUM still work.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;
use Time::HiRes qw(usleep);

my $node = kyrodb_node('crash_points');
# a PANIC takes the server through crash recovery by itself
$node->append_conf('postgresql.conf', 'restart_after_crash = on');
$node->reload;
$node->safe_psql('postgres', q(
	CREATE TABLE items (id bigserial PRIMARY KEY, v vector(32));
	INSERT INTO items (v) SELECT (SELECT array_agg(random()) FROM generate_series(1, 32) WHERE g > 0)::vector
	  FROM generate_series(1, 500) g;
	CREATE INDEX items_idx ON items USING kyrodb (v);
	-- only the workloads flush and merge (the pool's image count is compared around one)
	ALTER TABLE items SET (autovacuum_enabled = off);
	-- 8,000 dims: a hot-tier record spans five pages, so an append takes several WAL records
	CREATE TABLE wide (id bigserial PRIMARY KEY, v vector(8000));
	CREATE INDEX wide_idx ON wide USING kyrodb (v);
	INSERT INTO wide (v) SELECT array_fill(g::real, ARRAY[8000])::vector FROM generate_series(1, 4) g;
	CREATE TABLE scratch (id bigserial PRIMARY KEY, v vector(32));
	INSERT INTO scratch (v) SELECT (SELECT array_agg(random()) FROM generate_series(1, 32) WHERE g > 0)::vector
	  FROM generate_series(1, 3000) g;));

my $insert = q(INSERT INTO items (v) SELECT (SELECT array_agg(random()) FROM generate_series(1, 32) WHERE g > 0)::vector
	  FROM generate_series(1, %d) g;);
my $flush = sprintf($insert, 300) . q( SELECT kyrodb_flush('items_idx'););
# A statement sequence that reaches each point.
my %workload = (
	# a new index has no free pages: its first insert extends the relation
	'extend.unrecorded'  => q(DROP TABLE IF EXISTS ext; CREATE TABLE ext (v vector(32)); CREATE INDEX ON ext USING kyrodb (v);
		INSERT INTO ext SELECT (SELECT array_agg(random()) FROM generate_series(1, 32) WHERE g > 0)::vector
		  FROM generate_series(1, 500) g;),
	'stream.claimed'     => $flush,
	'stream.written'     => $flush,
	'build.published'    => q(SET maintenance_work_mem = '1MB'; CREATE INDEX scratch_idx ON scratch USING kyrodb (v);),
	'flush.collected'    => $flush,
	'flush.published'    => $flush,
	'segment.staged'     => $flush,
	# a few deleted rows: the merge extends the largest segment and carries its tombstones
	'merge.published'    => q(DELETE FROM items WHERE id % 97 = 0; VACUUM items; ) . $flush . $flush,
	'insert.append'      => sprintf($insert, 300),
	'hot_append.linked'  => q(INSERT INTO wide (v) SELECT array_fill(9::real, ARRAY[8000])::vector;),
	'hot_append.written' => q(INSERT INTO wide (v) SELECT array_fill(9::real, ARRAY[8000])::vector;),
	'tombstone.page'     => q(SELECT kyrodb_flush('items_idx'); DELETE FROM items WHERE id % 7 = 0; VACUUM items;),
	'hot_delete.page'    => sprintf($insert, 50) . q( DELETE FROM items WHERE id > (SELECT max(id) - 20 FROM items); VACUUM items;),
	'prewarm.loaded'     => q(SELECT kyrodb_prewarm('items_idx');),
	# a flush puts its new image in the pool itself; a rebuilt index's images are loaded by the first query
	'pool.loaded'        => q(REINDEX INDEX items_idx; SET enable_seqscan = off; SELECT id FROM items ORDER BY v <-> (SELECT v FROM items LIMIT 1) LIMIT 3;),
	'scan.directory_read' => q(SET enable_seqscan = off; SELECT id FROM items ORDER BY v <-> (SELECT v FROM items LIMIT 1) LIMIT 3;),
);

my @points = split /\n/, $node->safe_psql('postgres', 'SELECT * FROM kyrodb_crash_points()');
cmp_ok(scalar(@points), '>=', 15, 'kyrodb lists its crash points');
is(join(',', grep { !exists $workload{$_} } @points), '', 'every crash point has a workload here');

sub wait_for_log {
	my ($node, $pattern, $offset) = @_;
	for (1 .. 300) {
		return 1 if $node->log_contains($pattern, $offset);
		usleep(100_000);
	}
	return 0;
}

sub check_index {
	my ($label) = @_;
	is(rows_not_found($node, 'items'), '0', "$label: every committed row is found by its own vector");
	for my $index (qw(items_idx wide_idx)) {
		my ($ret, $out, $err) = $node->psql('postgres', "SELECT kyrodb_verify_index('$index', true)");
		is($ret . $err, '0', "$label: $index verifies");
	}
	my ($ret, $out, $err) = $node->psql('postgres', sprintf($insert, 20) . q(
		INSERT INTO wide (v) SELECT array_fill(5::real, ARRAY[8000])::vector;
		SELECT kyrodb_flush('items_idx'); SELECT kyrodb_flush('wide_idx'); VACUUM items; VACUUM wide;
		SELECT kyrodb_verify_index('items_idx', true); SELECT kyrodb_verify_index('wide_idx', true);));
	is($ret . $err, '0', "$label: inserts, flushes and VACUUM work afterwards");
}

my $reached = 0;
my $prewarm_checked = 0;
for my $action (qw(error panic)) {
	for my $point (@points) {
		my $label = "$point ($action)";
		my $log_offset = -s $node->logfile;
		my $pooled = $node->safe_psql('postgres', 'SELECT images FROM kyrodb_memory()');
		my ($ret, $out, $err) = $node->psql('postgres', qq(
			SET kyrodb.crash_point = '$point'; SET kyrodb.crash_action = '$action';
			$workload{$point}), on_error_stop => 1);
		if ($action eq 'error') {
			like($err, qr/crash point "\Q$point\E" reached/, "$label: the point was reached");
		} else {
			wait_for_connections($node) or die "$label: the server did not come back";
			my $panicked = $node->log_contains(qr/PANIC:  kyrodb crash point "\Q$point\E" reached/, $log_offset);
			ok($panicked, "$label: the point was reached");
			# The prewarm launcher runs again after a crash restart, not only after
			# a start; waiting for it also keeps it from loading images the next
			# workload means to load itself.
			if ($panicked) {
				my $prewarmed = wait_for_log($node, qr/kyrodb prewarmed \d+ segments/, $log_offset);
				ok($prewarmed, 'prewarm runs after a crash restart') if !$prewarm_checked++;
			}
		}
		$reached++ if $err =~ /crash point "\Q$point\E" reached/
		  || $node->log_contains(qr/PANIC:  kyrodb crash point "\Q$point\E" reached/, $log_offset);
		if ($point eq 'segment.staged' && $action eq 'error') {
			is($node->safe_psql('postgres', 'SELECT images FROM kyrodb_memory()'), $pooled,
				"$label: the failed flush left no image in the pool");
		}
		if ($point eq 'build.published') {
			is($node->safe_psql('postgres', q(SELECT count(*) FROM pg_class WHERE relname = 'scratch_idx')), '0',
				"$label: the interrupted CREATE INDEX left no index");
			$node->safe_psql('postgres', q(
				SET maintenance_work_mem = '1MB'; CREATE INDEX scratch_idx ON scratch USING kyrodb (v);));
			is($node->safe_psql('postgres', q(SELECT kyrodb_verify_index('scratch_idx', true);
				SELECT segments > 1 FROM kyrodb_index_stats('scratch_idx'); DROP INDEX scratch_idx;)), "\nt",
				"$label: CREATE INDEX works again");
		}
		check_index($label);
	}
}
# A backend that ends (FATAL) after staging its new image in the pool and
# before publishing it runs no destructor: its exit frees the image.
{
	my $pooled = $node->safe_psql('postgres', 'SELECT images FROM kyrodb_memory()');
	my $log_offset = -s $node->logfile;
	my ($fout, $ferr) = ('', '');
	my $stopped = IPC::Run::start(['psql', '-X', '-d', $node->connstr('postgres'), '-c',
		"SET kyrodb.crash_point = 'segment.staged'; SET kyrodb.crash_action = 'sleep'; $flush"],
		'>', \$fout, '2>', \$ferr);
	ok(wait_for_log($node, qr/crash point "segment.staged" reached, sleeping/, $log_offset),
		'segment.staged (terminated): the point was reached');
	is($node->safe_psql('postgres', 'SELECT images FROM kyrodb_memory()'), $pooled + 1,
		'segment.staged (terminated): the staged image is in the pool');
	$node->safe_psql('postgres', q(SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE query LIKE '%kyrodb_flush%' AND pid <> pg_backend_pid()));
	$stopped->finish;
	like($ferr, qr/terminating connection/, 'segment.staged (terminated): the flush was terminated');
	is($node->safe_psql('postgres', 'SELECT images FROM kyrodb_memory()'), $pooled,
		'segment.staged (terminated): its exit freed the staged image');
	check_index('segment.staged (terminated)');
}

note("crash points exercised: $reached of " . (2 * scalar @points) . " (points x actions)");
is($reached, 2 * scalar(@points), 'every crash point was reached with both actions');

done_testing();
