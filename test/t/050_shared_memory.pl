# The shared-memory pool of segment images (kyrodb.shared_memory_size), the
# prewarm and flush background workers, and their fallbacks:
# - one index on disk answers byte-identically whether its segment images are
#   in the pool, in a pool too small for one or for all of them, in a
#   disabled pool, or in each connection because kyrodb is not preloaded;
#   each fallback says so once per connection, and recall is intact;
# - after kill -9 and restart the prewarm workers load every image before any
#   query, and the index answers as before the crash;
# - flushes that merge segments under a stream of queries change no exact
#   answer and raise no error;
# - a streaming standby picks up new and merged segments and keeps in its pool
#   exactly the images of the segments it has;
# - a flush or merge puts the new segment's image in the pool itself, so that
#   no query after it waits for the image to load;
# - an insert past kyrodb.flush_threshold gets the hot tier flushed by a
#   background worker.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

my $datagen = $ENV{KYRODB_DATAGEN} or die "KYRODB_DATAGEN is not set";

my $node = kyrodb_node('pool', allows_streaming => 1);
# Settings under test go in a file of their own, included last so that they
# override kyrodb_node's (shared_preload_libraries too); a restart applies them.
$node->append_conf('postgresql.conf', "include_if_exists 'kyrodb_050.conf'\n");

sub restart_with {
	my ($settings) = @_;
	open my $f, '>', $node->data_dir . '/kyrodb_050.conf' or die;
	print $f "$settings\n";
	close $f;
	$node->restart;
}

sub load {
	my ($table, $n, $seed) = @_;
	$node->safe_psql('postgres', "CREATE TABLE $table (id int PRIMARY KEY, v vector(32))");
	copy_from_command($node, $table, "$datagen synthetic $n 32 $seed");
}

# Waits for QUERY to return true, up to about 60 s (PG_TEST_TIMEOUT_DEFAULT
# if set): what it waits for takes a second or two here.
sub poll {
	my ($n, $query) = @_;
	local $PostgreSQL::Test::Utils::timeout_default = $ENV{PG_TEST_TIMEOUT_DEFAULT} // 60;
	return $n->poll_query_until('postgres', $query);
}

sub stats {
	my ($n, $what) = @_;
	return $n->safe_psql('postgres', "SELECT $what FROM kyrodb_index_stats('items_idx')");
}

# Embedding-like data; autovacuum stays off so that only the test (and the
# flush worker) changes the index's segments.
load('items', 20000, 1);
load('queries', 100, 2);
load('fresh', 3600, 3);    # rows inserted in parts 4 and 5: near the others, unlike the copies of part 3
# maintenance_work_mem small enough for three segments (7,500 rows, an image
# of about 2 MB, is what it allows).
$node->safe_psql('postgres', q(
	ALTER TABLE items SET (autovacuum_enabled = off);
	CREATE SEQUENCE ids START 100001;
	SET maintenance_work_mem = '6MB';
	CREATE INDEX items_idx ON items USING kyrodb (v);));
my $segments = stats($node, 'segments');
cmp_ok($segments, '>=', 2, "the build made several segments ($segments)");

# The top-10 ids of the first N queries, as one line "qid:id,id,... qid:...".
sub answers_sql {
	my ($n) = @_;
	return qq(SELECT string_agg(q.id || ':' || array_to_string(ARRAY(
	    SELECT i.id FROM items i ORDER BY i.v <-> q.v LIMIT 10), ','), ' ' ORDER BY q.id)
	  FROM queries q WHERE q.id <= $n);
}
# A narrow beam (recall a little under 1 on this data) makes the approximate
# answers depend on every step of the graph search, so equal answers mean the
# same images were searched the same way.
my $answers50 = "SET enable_seqscan = off; SET kyrodb.ef_search = 10;\n" . answers_sql(50) . ";\n";
my $exact100 = "SET enable_seqscan = off; SET kyrodb.exact_search = on;\n" . answers_sql(100) . ";\n";
my $approx100 = "SET enable_seqscan = off; SET kyrodb.ef_search = 10;\n" . answers_sql(100) . ";\n";

like($node->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) " . answers_sql(50)),
	qr/Index Scan using items_idx/, 'the queries are answered by the kyrodb index');

# Mean share of the true top 10 (exact answers) found by each query.
sub recall {
	my ($got, $truth) = @_;
	my %truth = map { split /:/ } split / /, $truth;
	my ($found, $queries) = (0, 0);
	for (split / /, $got) {
		my ($q, $ids) = split /:/;
		my %true = map { $_ => 1 } split /,/, $truth{$q};
		$found += grep { $true{$_} } split /,/, $ids;
		$queries++;
	}
	return sprintf('%.4f', $found / (10 * $queries));
}

# ---- 1. the same answers from every place a segment image can live
#
# One data directory, restarted with each setting: the index on disk is the
# same, so its approximate answers must be byte-identical. Each case runs the
# queries twice in one connection (a fallback NOTICE comes once per
# connection), then reads the pool and the index's images in that connection.
my $session = $answers50 . $answers50 . q(
	SELECT state || ' ' || refused FROM kyrodb_memory();
	SELECT images_shared || ' ' || images_local FROM kyrodb_index_stats('items_idx');
	SELECT kyrodb_prewarm('items_idx'););
my $reference;
for my $case (
	[ 'a pool that holds the index', '', 'active', undef ],
	[ 'a pool smaller than a segment', 'kyrodb.shared_memory_size = 1', 'active',
		qr/segment \d+ of index "items_idx" \(\d+ MB\) is larger than kyrodb.shared_memory_size \(1 MB\)/ ],
	[ 'a pool that holds one segment', 'kyrodb.shared_memory_size = 3', 'active',
		qr/kyrodb.shared_memory_size \(3 MB\) is full of segment images in use/ ],
	[ 'the pool disabled', 'kyrodb.shared_memory_size = 0', 'disabled',
		qr/kyrodb.shared_memory_size is 0, so each connection loads its own copy of index segments/ ],
	[ 'kyrodb not preloaded', "shared_preload_libraries = ''", 'not preloaded',
		qr/kyrodb is not in shared_preload_libraries, so each connection loads its own copy of index segments/ ])
{
	my ($name, $settings, $state, $notice) = @$case;
	restart_with($settings);
	my ($out, $err) = ('', '');
	my $rc = $node->psql('postgres', $session, stdout => \$out, stderr => \$err);
	is($rc, 0, "$name: the connection runs the queries") or do { diag("stderr: $err"); next };
	my ($first, $second, $memory, $images, $prewarmed) = split /\n/, $out;
	$reference //= $first;
	is($first, $reference, "$name: the answers are identical");
	is($second, $first, "$name: a second run in the same connection answers the same");
	my ($got_state, $refused) = $memory =~ /^(.*) (\d+)$/;
	is($got_state, $state, "$name: kyrodb_memory().state is '$state'");
	my ($shared, $local) = split / /, $images;
	my @notices = $err =~ /NOTICE:  ([^\n]*)/g;
	if (defined $notice) {
		is(scalar(@notices), 1, "$name: one NOTICE in the connection")
		  or diag("stderr: $err");
		like($notices[0] // '', $notice, "$name: the NOTICE says why");
		cmp_ok($shared, '<', $segments, "$name: not every image is in the pool ($shared shared)");
		cmp_ok($local, '>=', 1, "$name: the connection holds its own images ($local)");
		cmp_ok($refused, '>', 0, "$name: the pool counts refused images ($refused)") if $state eq 'active';
	} else {
		is(scalar(@notices), 0, "$name: no NOTICE") or diag("stderr: $err");
		is($images, "$segments 0", "$name: every image is in the pool, none in the connection");
	}
	is($prewarmed, $segments, "$name: kyrodb_prewarm reports every segment in memory");
	unlike($err, qr/WARNING|ERROR/, "$name: no warning or error");
}
restart_with('');

my $truth = $node->safe_psql('postgres', $exact100);
my $approx = $node->safe_psql('postgres', $approx100);
my $recall = recall($approx, $truth);
cmp_ok($recall, '>=', 0.9, "recall\@10 of 100 queries against an exact search ($recall)");
is(join(' ', (split / /, $approx)[0 .. 49]), $reference, 'the same answers to the first 50 queries as in every case above');

# ---- 2. after kill -9, prewarm loads every image before any query
#
# Nothing below queries the index until the pool holds all its images:
# kyrodb_index_stats and kyrodb_memory read the metapage and the pool only.
my $log_offset = -s $node->logfile;
crash_and_restart($node);
ok(poll($node,
	"SELECT images_shared = segments FROM kyrodb_index_stats('items_idx')"),
	'after the crash, the prewarm workers load every segment image into the pool');
$node->wait_for_log(qr/kyrodb prewarmed \d+ segments of 1 indexes in database \d+/, $log_offset);
# Two prewarm workers by default, each starting at its own segment: each
# image is loaded once, by one of them.
is($node->safe_psql('postgres', 'SELECT loads FROM kyrodb_memory()'), $segments,
	'the prewarm workers load each image once');
my $after = $node->safe_psql('postgres', $approx100);
is($after, $approx, 'after the crash the index answers exactly as before');
is(recall($after, $truth), $recall, 'recall is unchanged after the crash');

# ---- 3. flushes that merge segments under a stream of queries
#
# Two clients query while this session inserts rows and flushes several
# times; the last flush absorbs every segment. The inserted rows are copies
# shifted far from every query, so the exact top 10 of each query stays what
# it was: an exact index search that returns anything else during a merge
# (a row lost or returned twice while the directory changes) fails its cast.
$node->safe_psql('postgres', qq(
	SET enable_seqscan = off; SET kyrodb.exact_search = on;
	CREATE TABLE expected AS SELECT q.id AS qid, ARRAY(SELECT i.id FROM items i ORDER BY i.v <-> q.v LIMIT 10) AS ids
	  FROM queries q;));
# The stream runs until the merges are over, however long they take (a timed
# pgbench run ended before them under the sanitizers): each client loops in a
# procedure, one query per transaction, until this session sets stop.
$node->safe_psql('postgres', q(
	CREATE TABLE stream_stop (stop bool NOT NULL);
	INSERT INTO stream_stop VALUES (false);
	CREATE PROCEDURE query_stream(exact bool, INOUT queries int DEFAULT 0) LANGUAGE plpgsql AS $$
	DECLARE
		q int;
		got int[];
	BEGIN
		PERFORM set_config('kyrodb.exact_search', exact::text, false);
		PERFORM set_config('enable_seqscan', 'off', false);
		WHILE NOT (SELECT stop FROM stream_stop) LOOP
			q := 1 + floor(random() * 100)::int;
			got := ARRAY(SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE id = q) LIMIT 10);
			IF exact AND got IS DISTINCT FROM (SELECT e.ids FROM expected e WHERE e.qid = q) THEN
				RAISE EXCEPTION 'wrong answer to query %: %', q, got;
			END IF;
			queries := queries + 1;
			COMMIT;
		END LOOP;
	END $$;));
my %stream;
for my $exact ('true', 'false') {
	my ($out, $err) = ('', '');
	local $ENV{PGAPPNAME} = 'kyrodb_stream';    # the test's other connections carry the script's name
	my $run = IPC::Run::start(['psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
		'-c', "CALL query_stream($exact)"], '>', \$out, '2>', \$err);
	$stream{$exact} = { run => $run, out => \$out, err => \$err };
}
poll($node, "SELECT count(*) = 2 FROM pg_stat_activity WHERE application_name = 'kyrodb_stream'")
  or die 'the queries did not start';
my $merges = 0;
my $round = 0;
for my $rows (1000, 1000, 1000, 1000, 3000) {
	my $before = stats($node, 'segments');
	my $shift = 100 * ++$round;    # every copy a distinct vector
	my $moved = $node->safe_psql('postgres', qq(
		INSERT INTO items SELECT nextval('ids'), v + array_fill(${shift}::real, ARRAY[32])::vector FROM items WHERE id <= $rows;
		SELECT kyrodb_flush('items_idx');));
	is($moved, $rows, "a flush under queries moves the $rows inserted rows");
	$merges++ if stats($node, 'segments') < $before + 1;
}
cmp_ok($merges, '>', 0, "flushes merged segments under the queries ($merges times)");
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kyrodb_stream'"), '2',
	'both query streams were still running after the last merge');
$node->safe_psql('postgres', 'UPDATE stream_stop SET stop = true');
for my $exact ('true', 'false') {
	my $s = $stream{$exact};
	my $kind = $exact eq 'true' ? 'exact' : 'approximate';
	ok($s->{run}->finish, "the $kind query stream ends without errors") or diag(${ $s->{err} });
	unlike(${ $s->{err} }, qr/ERROR/, "no $kind query failed during the merges");
	my ($queries) = ${ $s->{out} } =~ /^(\d+)$/m;
	cmp_ok($queries // 0, '>', 0, "the $kind stream ran queries (" . ($queries // 0) . ")");
}
is(rows_not_found($node, 'items'), '0', 'every row is indexed after the merges');
my $images = stats($node, "images_shared || ' of ' || segments");
like($images, qr/^(\d+) of \1$/, "after the merges the pool holds the images of the current segments only ($images)");

# ---- 4. a standby loads the segments the primary publishes
#
# The standby holds the images of the primary's segments in its own pool;
# a flush on the primary adds a segment, the next one merges it away (the
# hot tier is empty and the segments are large after part 3).
is(stats($node, 'hot_rows'), '0', 'the hot tier is empty before the standby part');
$node->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'base', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby, 'replay', $node->lsn('insert'));
$standby->safe_psql('postgres', $answers50);
is(stats($standby, 'images_shared = segments'), 't', 'the standby searches every segment from its pool');
my $segments_before = stats($node, 'segments');
for my $round (1, 2) {
	my ($moved, $newest) = split /\n/, $node->safe_psql('postgres', qq(
		INSERT INTO items SELECT nextval('ids'), v FROM fresh WHERE id > 3000 + 300 * ($round - 1) AND id <= 3000 + 300 * $round;
		SELECT kyrodb_flush('items_idx');
		SELECT max(id) FROM items;));
	is($moved, 300, "flush $round moves the 300 rows inserted");
	is(stats($node, 'images_shared = segments'), 't',
		"flush $round: the new segment's image is in the primary's pool before any query reads it");
	$node->wait_for_catchup($standby, 'replay', $node->lsn('insert'));
	my $primary_dir = stats($node, "segments || ' ' || generation");
	my ($segments_now) = split / /, $primary_dir;
	if ($round == 1) {
		is($segments_now, $segments_before + 1, "flush 1 adds a segment ($segments_before before)");
	} else {
		cmp_ok($segments_now, '<=', $segments_before,
			"flush 2 merges the segment of flush 1 ($segments_before before, $segments_now after)");
	}
	$segments_before = $segments_now;
	is(stats($standby, "segments || ' ' || generation"), $primary_dir,
		"flush $round: the standby has the primary's segments and generation ($primary_dir)");
	is($standby->safe_psql('postgres', qq(SET enable_seqscan = off;
		SELECT id FROM items ORDER BY v <-> (SELECT v FROM items WHERE id = $newest) LIMIT 1)),
		$newest, "flush $round: the standby finds the newest row by its vector");
	is($standby->safe_psql('postgres', $answers50), $node->safe_psql('postgres', $answers50),
		"flush $round: the standby answers as the primary");
	my $standby_images = stats($standby, "images_shared || ' of ' || segments");
	like($standby_images, qr/^(\d+) of \1$/,
		"flush $round: the standby's pool holds the images of its segments only ($standby_images)");
}
$standby->stop;

# ---- 5. a background flush once the hot tier reaches kyrodb.flush_threshold
#
# ALTER SYSTEM, not SET: the worker reads the threshold too, and flushes again
# while the hot tier stays above it.
$node->safe_psql('postgres', 'ALTER SYSTEM SET kyrodb.flush_threshold = 2000');
$node->reload;
poll($node, "SELECT current_setting('kyrodb.flush_threshold') = '2000'")
  or die 'the new kyrodb.flush_threshold is not in effect';
my $generation = stats($node, 'generation');
is(stats($node, 'hot_rows'), '0', 'the hot tier is empty before the inserts');
$node->safe_psql('postgres', q(INSERT INTO items SELECT nextval('ids'), v FROM fresh WHERE id <= 3000));
ok(poll($node, qq(
	SELECT hot_rows < 2000 AND generation > $generation FROM kyrodb_index_stats('items_idx'))),
	'a background worker flushed the hot tier');
is(rows_not_found($node, 'items'), '0', 'every row is indexed after the background flush');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET kyrodb.flush_threshold');
$node->reload;

done_testing();
