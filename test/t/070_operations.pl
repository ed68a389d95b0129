# What operators and bad luck do to a kyrodb index:
# - an unlogged index after a crash is reset from its init fork and works
#   (its init fork used to be zeros, and the next INSERT hung forever);
# - a flush holding the extension lock (stopped there by a crash point) holds
#   up no query, and an insert waiting for that lock can be cancelled;
#   terminating the flushing backend leaves an index that verifies;
# - a CREATE INDEX CONCURRENTLY that fails inside VACUUM's callback
#   (temp_file_limit) leaves no segment image pinned;
# - cancel (statement_timeout) during CREATE INDEX, a flush and a long scan;
# - DROP INDEX and REINDEX CONCURRENTLY while scans and inserts run;
# - ALTER TABLE changing the column's type rebuilds the index;
# - an insert held at kyrodb.hot_tier_limit by a flush that makes no
#   progress goes on after a stall;
# - VACUUM removing rows an open index-only scan has read waits for the scan
#   (else the heap would mark their pages all-visible and the scan would hand
#   out the dead rows' values).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use KyroTest;

my $node = kyrodb_node('operations');
my $random32 = q((SELECT array_agg(random()) FROM generate_series(1, 32) WHERE g > 0)::vector);

# ---- unlogged index, crash
$node->safe_psql('postgres', qq(
	CREATE UNLOGGED TABLE u (id int, v vector(32));
	CREATE INDEX u_idx ON u USING kyrodb (v);
	INSERT INTO u SELECT g, $random32 FROM generate_series(1, 300) g;));
crash_and_restart($node);
is($node->safe_psql('postgres', 'SELECT count(*) FROM u'), '0', 'a crash empties the unlogged table');
my ($ret, $out, $err) = $node->psql('postgres', qq(
	INSERT INTO u SELECT g, $random32 FROM generate_series(1, 300) g;
	SELECT kyrodb_verify_index('u_idx', true);), timeout => 60);
is($ret . $err, '0', 'an unlogged kyrodb index takes inserts after a crash');
is(rows_not_found($node, 'u'), '0', 'and finds every row');

# ---- a flush stopped while it holds the extension lock
$node->safe_psql('postgres', qq(
	CREATE TABLE t (id bigserial PRIMARY KEY, v vector(32));
	INSERT INTO t (v) SELECT $random32 FROM generate_series(1, 3000) g;
	CREATE INDEX t_idx ON t USING kyrodb (v);
	INSERT INTO t (v) SELECT $random32 FROM generate_series(1, 2000) g;));
my $log_offset = -s $node->logfile;
my ($fout, $ferr) = ('', '');
my $flush = IPC::Run::start(['psql', '-X', '-d', $node->connstr('postgres'), '-c',
	"SET kyrodb.crash_point = 'extend.unrecorded'; SET kyrodb.crash_action = 'sleep'; SELECT kyrodb_flush('t_idx')"],
	'>', \$fout, '2>', \$ferr);
$node->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'extend'")
  or die 'the flush did not stop at its crash point';
my ($iout, $ierr) = ('', '');
my $insert = IPC::Run::start(['psql', '-X', '-d', $node->connstr('postgres'), '-c',
	"SET statement_timeout = '4s'; INSERT INTO t (v) SELECT $random32 FROM generate_series(1, 5000) g"],
	'>', \$iout, '2>', \$ierr);
usleep(500_000);
($ret, $out, $err) = $node->psql('postgres', q(SET statement_timeout = '3s'; SET enable_seqscan = off;
	SELECT count(*) FROM (SELECT id FROM t ORDER BY v <-> (SELECT v FROM t LIMIT 1) LIMIT 10) a));
is($out, '10', 'a query runs while a flush holds the extension lock and an insert waits for it');
$insert->finish;
like($ierr, qr/canceling statement due to statement timeout/, 'the waiting insert can be cancelled');
$node->safe_psql('postgres', q(SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%kyrodb_flush%'
	AND pid <> pg_backend_pid()));
$flush->finish;
like($ferr, qr/terminating connection/, 'the stopped flush was terminated');
is($node->safe_psql('postgres', q(SELECT kyrodb_verify_index('t_idx', true))), '', 'the index verifies afterwards');
$node->safe_psql('postgres', qq(INSERT INTO t (v) SELECT $random32 FROM generate_series(1, 100) g;
	SELECT kyrodb_flush('t_idx');));
is($node->safe_psql('postgres', q(SELECT hot_rows FROM kyrodb_index_stats('t_idx'))), '0', 'the next flush works');
is(rows_not_found($node, 't'), '0', 'every row is found');

# ---- a scan that read the directory, then a flush frees the hot tier's
# pages and inserts reuse them: the scan notices and starts again (it used
# to fail with "hot tier ... ends before record N" or trust the new pages)
$node->safe_psql('postgres', qq(
	CREATE TABLE h (id bigserial PRIMARY KEY, v vector(32));
	INSERT INTO h (v) SELECT $random32 FROM generate_series(1, 3000) g;
	CREATE INDEX h_idx ON h USING kyrodb (v);
	INSERT INTO h (v) SELECT $random32 FROM generate_series(1, 3000) g;));
$log_offset = -s $node->logfile;
my ($sout, $serr) = ('', '');
my $scan = IPC::Run::start(['psql', '-X', '-q', '-At', '-d', $node->connstr('postgres'), '-c', q(
	SET kyrodb.crash_point = 'scan.directory_read'; SET kyrodb.crash_action = 'sleep'; SET kyrodb.crash_sleep = '3s';
	SET enable_seqscan = off;
	SELECT id FROM h ORDER BY v <-> (SELECT v FROM h WHERE id = 4500) LIMIT 1;)], '>', \$sout, '2>', \$serr);
for (1 .. 100) {
	last if $node->log_contains(qr/crash point "scan.directory_read" reached, sleeping/, $log_offset);
	usleep(50_000);
}
$node->safe_psql('postgres', qq(SELECT kyrodb_flush('h_idx');
	INSERT INTO h (v) SELECT $random32 FROM generate_series(1, 3000) g;));
$scan->finish;
is($sout . $serr, "4500\n", 'a scan overtaken by a flush and reused hot-tier pages starts again and answers');

# ---- the same in a connection holding a copy of the hot tier: the rows the
# overtaken scan read for it are dropped (those read before stay) and read
# again from the pages as they are now; no row is lost or returned twice
$node->safe_psql('postgres', qq(
	CREATE TABLE hm (id bigserial PRIMARY KEY, v vector(32));
	INSERT INTO hm (v) SELECT $random32 FROM generate_series(1, 3000) g;
	CREATE INDEX hm_idx ON hm USING kyrodb (v);
	INSERT INTO hm (v) SELECT $random32 FROM generate_series(1, 1000) g;));
my $nearest = sub { "SELECT id FROM hm ORDER BY v <-> (SELECT v FROM hm WHERE id = $_[0]) LIMIT 1" };
my $copier = $node->background_psql('postgres');
$copier->query_safe(q(SET enable_seqscan = off; SET kyrodb.cache = off;));
is($copier->query_safe($nearest->(3500)), '3500', 'the connection copies the hot tier');
$node->safe_psql('postgres', qq(INSERT INTO hm (v) SELECT $random32 FROM generate_series(1, 1000) g;));
$copier->query_safe(q(SET kyrodb.crash_point = 'scan.directory_read'; SET kyrodb.crash_action = 'sleep';
	SET kyrodb.crash_sleep = '3s';));
$log_offset = -s $node->logfile;
$copier->query_until(qr/started/, "\\echo started\n" . $nearest->(4500) . ";\n");
for (1 .. 100) {
	last if $node->log_contains(qr/crash point "scan.directory_read" reached, sleeping/, $log_offset);
	usleep(50_000);
}
$node->safe_psql('postgres', qq(SELECT kyrodb_flush('hm_idx');
	INSERT INTO hm (v) SELECT $random32 FROM generate_series(1, 3000) g;));
is($copier->query_safe(q(RESET kyrodb.crash_point; SELECT 'done')), "4500\ndone",
	'a scan overtaken while adding to its copy of the hot tier starts again and answers');
my $all = q(SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || sum(id) FROM
	(SELECT id FROM hm ORDER BY v <-> (SELECT v FROM hm WHERE id = 4900) LIMIT 100000) a);
is($copier->query_safe("SET kyrodb.exact_search = on; $all"),
	$node->safe_psql('postgres', 'SELECT count(*) || \' \' || count(*) || \' \' || sum(id) FROM hm'),
	'then every row is found once through its copy');
is($copier->query_safe($nearest->(7900)), '7900', 'and the rows inserted after the flush too');
$copier->quit;

# ---- a backend waiting for another's image load sleeps (it used to spin)
$node->safe_psql('postgres', qq(
	CREATE TABLE w (id bigserial PRIMARY KEY, v vector(32));
	INSERT INTO w (v) SELECT $random32 FROM generate_series(1, 2000) g;
	CREATE INDEX w_idx ON w USING kyrodb (v);));
$log_offset = -s $node->logfile;
my $query_w = q(SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM w ORDER BY v <-> (SELECT v FROM w WHERE id = 7) LIMIT 5) a;);
my ($lout, $lerr, $wout, $werr) = ('', '', '', '');
my $loader = IPC::Run::start(['psql', '-X', '-q', '-At', '-d', $node->connstr('postgres'), '-c',
	"SET kyrodb.crash_point = 'pool.loaded'; SET kyrodb.crash_action = 'sleep'; SET kyrodb.crash_sleep = '4s'; $query_w"],
	'>', \$lout, '2>', \$lerr);
for (1 .. 100) {
	last if $node->log_contains(qr/crash point "pool.loaded" reached, sleeping/, $log_offset);
	usleep(50_000);
}
my $waiter = IPC::Run::start(['psql', '-X', '-q', '-At', '-d', $node->connstr('postgres'), '-c',
	"SET application_name = 'waiter'; $query_w"], '>', \$wout, '2>', \$werr);
my $pid;
for (1 .. 100) {
	$pid = $node->safe_psql('postgres', q(SELECT pid FROM pg_stat_activity WHERE application_name = 'waiter' AND state = 'active'));
	last if $pid;
	usleep(50_000);
}
sub cpu_ticks {
	open my $stat, '<', "/proc/$_[0]/stat" or return -1;
	my @f = split / /, (<$stat> =~ s/^.*\) //r);
	return $f[11] + $f[12];  # utime + stime
}
my $t0 = cpu_ticks($pid);
sleep 2;
my $used = cpu_ticks($pid) - $t0;
$loader->finish;
$waiter->finish;
cmp_ok($used, '<', 20, "a backend waiting 2 s for another's image load uses little CPU ($used ticks)");
chomp($lout, $wout);
is("$lout|$wout", "5|5", 'both get their rows once the image is loaded');

# ---- CREATE INDEX CONCURRENTLY failing inside VACUUM's callback
$node->safe_psql('postgres', q(
	CREATE TABLE c (id int, v vector(4));
	INSERT INTO c SELECT g, ARRAY[g, g % 7, g % 11, 1] FROM generate_series(1, 60000) g;));
($ret, $out, $err) = $node->psql('postgres', q(
	SET maintenance_work_mem = '1MB'; SET temp_file_limit = '64kB';
	CREATE INDEX CONCURRENTLY c_idx ON c USING kyrodb (v);
	SELECT 'after';));
like($err, qr/temporary file size exceeds temp_file_limit/, 'CREATE INDEX CONCURRENTLY fails while validating');
($ret, $out, $err) = $node->psql('postgres', q(
	SET maintenance_work_mem = '1MB'; SET temp_file_limit = '64kB';
	CREATE INDEX CONCURRENTLY c_idx2 ON c USING kyrodb (v);
	SELECT pinned FROM kyrodb_memory();), on_error_stop => 0);
is($out, '0', 'no segment image stays pinned by the failed command');
$node->safe_psql('postgres', 'DROP INDEX c_idx; DROP INDEX c_idx2;');

# ---- cancel during CREATE INDEX, a flush and a long scan
($ret, $out, $err) = $node->psql('postgres', q(
	SET statement_timeout = '300ms'; CREATE INDEX c_slow ON c USING kyrodb (v) WITH (ef_construction = 1000);));
like($err, qr/canceling statement due to statement timeout/, 'CREATE INDEX can be cancelled');
$node->safe_psql('postgres', q(
	SET maintenance_work_mem = '1MB';
	CREATE INDEX c_idx ON c USING kyrodb (v);
	INSERT INTO c SELECT g, ARRAY[g, g % 5, g % 3, 2] FROM generate_series(60001, 90000) g;));
($ret, $out, $err) = $node->psql('postgres', q(SET statement_timeout = '200ms'; SELECT kyrodb_flush('c_idx');));
like($err, qr/canceling statement due to statement timeout/, 'a flush can be cancelled');
($ret, $out, $err) = $node->psql('postgres', q(SET statement_timeout = '100ms'; SET enable_seqscan = off;
	SET kyrodb.exact_search = on; SET kyrodb.max_scan_tuples = 10000000;
	SELECT count(*) FROM (SELECT c1.id FROM c c1, c c2 WHERE c2.id < 1000
	  ORDER BY c1.v <-> '[1,2,3,4]' LIMIT 10000000) a;));
like($err, qr/canceling statement due to statement timeout/, 'a long scan can be cancelled');
is($node->safe_psql('postgres', q(SELECT kyrodb_flush('c_idx') >= 0; SELECT kyrodb_verify_index('c_idx', true);)),
	"t\n", 'the index verifies after the cancelled flush, and the next flush works');

# ---- DROP INDEX and REINDEX CONCURRENTLY under scans and inserts
my $script = "${PostgreSQL::Test::Utils::tmp_check}/mixed.sql";
open my $f, '>', $script or die;
print $f "INSERT INTO t (v) SELECT $random32 FROM generate_series(1, 5) g;\n";
print $f "\\set r random(1, 4000)\n";
print $f "SELECT id FROM t ORDER BY v <-> (SELECT v FROM t WHERE id = :r) LIMIT 10;\n";
close $f;
my ($pout, $perr) = ('', '');
my $bench = IPC::Run::start(['pgbench', '-n', '-c', '2', '-T', '8', '-f', $script,
	'-h', $node->host, '-p', $node->port, 'postgres'], '>', \$pout, '2>', \$perr);
sleep 1;
$node->safe_psql('postgres', 'REINDEX INDEX CONCURRENTLY t_idx');
$node->safe_psql('postgres', 'CREATE INDEX t_idx2 ON t USING kyrodb (v)');
sleep 1;
$node->safe_psql('postgres', 'DROP INDEX t_idx2');
$node->safe_psql('postgres', 'DROP INDEX CONCURRENTLY t_idx');
$node->safe_psql('postgres', 'CREATE INDEX t_idx ON t USING kyrodb (v)');
$bench->finish;
is($?, 0, 'scans and inserts ran through REINDEX CONCURRENTLY and DROP INDEX without error')
  or diag($perr);
is($node->safe_psql('postgres', q(SELECT kyrodb_verify_index('t_idx', true))), '', 'the rebuilt index verifies');

# ---- ALTER TABLE changing the column type
$node->safe_psql('postgres', q(
	CREATE TABLE a (id int, v vector(3));
	INSERT INTO a SELECT g, ARRAY[g, 1, 1] FROM generate_series(1, 100) g;
	CREATE INDEX a_idx ON a USING kyrodb (v);));
($ret, $out, $err) = $node->psql('postgres', 'ALTER TABLE a ALTER COLUMN v TYPE vector(4) USING (v::real[] || 0::real)::vector(4)');
is($ret . $err, '0', 'ALTER COLUMN TYPE rebuilds the index');
is($node->safe_psql('postgres', q(SELECT kyrodb_verify_index('a_idx', true); SET enable_seqscan = off;
	SELECT id FROM a ORDER BY v <-> '[7,1,1,0]' LIMIT 1)), "\n7", 'and the rebuilt index answers');
($ret, $out, $err) = $node->psql('postgres', 'ALTER TABLE a ALTER COLUMN v TYPE real[]');
like($err, qr/data type real\[\] has no default operator class for access method "kyrodb"/,
	'a type the index cannot take is refused');

# ---- inserts past kyrodb.hot_tier_limit while the flush worker is stuck
# (stopped at a crash point after collecting the hot tier, so it reports no
# progress): the insert waits for a stall's 5 s, then goes on without waiting.
$node->safe_psql('postgres', q(
	CREATE TABLE s (id int, v vector(32));
	CREATE INDEX s_idx ON s USING kyrodb (v);
	ALTER SYSTEM SET kyrodb.crash_point = 'flush.collected';
	ALTER SYSTEM SET kyrodb.crash_action = 'sleep';
	SELECT pg_reload_conf();));
my $t0 = time;
($ret, $out, $err) = $node->psql('postgres', qq(
	SET kyrodb.flush_threshold_size = '64kB'; SET kyrodb.hot_tier_limit = '64kB';
	INSERT INTO s SELECT g, $random32 FROM generate_series(1, 3000) g;
	SELECT count(*) FROM s;), timeout => 120);
my $waited = time - $t0;
is($ret . $err . $out, '03000', 'an insert waiting for a stuck flush goes on');
cmp_ok($waited, '>=', 4, "after waiting for it (${waited}s)");
is($node->safe_psql('postgres', q(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kyrodb flush';
	SELECT hot_rows FROM kyrodb_index_stats('s_idx'))), "1\n3000", 'while the flush stayed stuck');
$node->safe_psql('postgres', q(
	ALTER SYSTEM RESET kyrodb.crash_point;
	ALTER SYSTEM RESET kyrodb.crash_action;
	SELECT pg_reload_conf();
	SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'kyrodb flush';));
$node->poll_query_until('postgres', q(SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'kyrodb flush'))
  or die 'the stuck flush did not end';
$node->safe_psql('postgres', q(SELECT kyrodb_flush('s_idx')));
is($node->safe_psql('postgres', q(SELECT kyrodb_verify_index('s_idx', true))), '', 'the index verifies');
is(rows_not_found($node, 's'), '0', 'and holds every row');

# ---- VACUUM and an index-only scan that has read rows VACUUM removes. Row
# 2900 (in a segment) and row 3001 (in the hot tier) lie near the query but on
# heap pages of their own, and are deleted before the scan starts; the rows
# fetched first are on all-visible pages, so the scan pins no heap page.
$node->safe_psql('postgres', q(
	CREATE TABLE io (id int PRIMARY KEY, v vector(4)) WITH (autovacuum_enabled = off);
	INSERT INTO io SELECT g, ARRAY[g, 0, 0, 0] FROM generate_series(1, 3000) g;
	UPDATE io SET v = '[1000.1,0,0,1.5]' WHERE id = 2900;
	CREATE INDEX io_idx ON io USING kyrodb (v) INCLUDE (id);
	INSERT INTO io VALUES (3001, '[1000.1,0,1.7,0]');
	VACUUM (FREEZE) io;
	DELETE FROM io WHERE id IN (2900, 3001);));
my $io_query = q(SELECT id FROM io ORDER BY v <-> '[1000.1,0,0,0]' LIMIT 10);
like($node->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) $io_query"),
	qr/Index Only Scan using io_idx/, 'the query is an index-only scan');
my $reader = $node->background_psql('postgres');
$reader->query_safe(q(BEGIN; SET enable_seqscan = off; SET kyrodb.cache = off;));
$reader->query_safe("DECLARE c CURSOR FOR $io_query");
is($reader->query_safe('FETCH 2 FROM c'), "1000\n1001", 'the scan returned its first rows');
my ($vout, $verr) = ('', '');
my $vacuum = IPC::Run::start(['psql', '-X', '-q', '-d', $node->connstr('postgres') . ' application_name=vacuum_io',
	'-c', 'VACUUM (INDEX_CLEANUP ON) io'], '>', \$vout, '2>', \$verr);
for (1 .. 200) {  # until it waits, or has ended
	last if $node->safe_psql('postgres', q(SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'vacuum_io' AND wait_event_type IN ('Extension', 'Lock')));
	$vacuum->pump_nb;
	last unless $vacuum->pumpable;
	usleep(50_000);
}
sleep 1;
is($node->safe_psql('postgres', q(SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vacuum_io'
	AND state = 'active' AND query LIKE '%VACUUM%')), '1', 'VACUUM waits for the index-only scan');
is($reader->query_safe('FETCH 8 FROM c'), join("\n", 999, 1002, 998, 1003, 997, 1004, 996, 1005),
	'which returns no row VACUUM removed, nearest first');
$reader->query_safe('COMMIT');
$vacuum->finish;
is($verr, '', 'VACUUM ends once the scan has');
is($node->safe_psql('postgres', "SET enable_seqscan = off; $io_query"),
	$node->safe_psql('postgres', "SET enable_indexscan = off; SET enable_indexonlyscan = off; $io_query"),
	'an index-only scan afterwards answers as a sequential scan');
$reader->quit;

# ---- a connection's copy of the hot tier gives back the room of rows a flush
# moved into a segment (it used to keep the room of the largest hot tier it
# had read for as long as it lived): 100,000 rows of 128 dims waiting, about
# 65 MB in the copy, flushed while 1,000 more arrive.
$node->safe_psql('postgres', q(
	CREATE TABLE backlog (id int, v vector(128)) WITH (autovacuum_enabled = off);
	CREATE INDEX backlog_idx ON backlog USING kyrodb (v);
	SET kyrodb.flush_threshold = 1000000; SET kyrodb.flush_threshold_size = '1GB';
	INSERT INTO backlog SELECT g, array_fill((g % 1000)::real, ARRAY[128])::vector FROM generate_series(1, 100000) g;));
my $more = q(SET kyrodb.flush_threshold = 1000000; SET kyrodb.flush_threshold_size = '1GB';
	INSERT INTO backlog SELECT g, array_fill(7::real, ARRAY[128])::vector FROM generate_series(100001, 101000) g;);
my $rss = q(SELECT (regexp_match(pg_read_file('/proc/self/status'), 'RssAnon:\s+(\d+)'))[1]::bigint / 1024);
my $nearest = q(SET enable_seqscan = off;
	SELECT count(*) FROM (SELECT id FROM backlog ORDER BY v <-> array_fill(7::real, ARRAY[128])::vector LIMIT 5) a);
my $querier = $node->background_psql('postgres');
my $before = $querier->query_safe($rss);
$log_offset = -s $node->logfile;
my ($bout, $berr) = ('', '');
my $flushing = IPC::Run::start(['psql', '-X', '-d', $node->connstr('postgres'), '-c',
	"SET kyrodb.crash_point = 'flush.collected'; SET kyrodb.crash_action = 'sleep'; SET kyrodb.crash_sleep = '3s';
	 SELECT kyrodb_flush('backlog_idx')"], '>', \$bout, '2>', \$berr);
my $collected = 0;
for (1 .. 300) {
	last if ($collected = $node->log_contains(qr/crash point "flush.collected" reached, sleeping/, $log_offset));
	usleep(100_000);
}
ok($collected, 'a flush collected the 100,000 rows');
$node->safe_psql('postgres', $more);
is($querier->query_safe($nearest), '5', 'a query reads the 101,000 waiting rows into its copy');
my $read = $querier->query_safe($rss);
$flushing->finish;
is($berr, '', 'the flush of the first 100,000 ends');
is($node->safe_psql('postgres', q(SELECT hot_rows FROM kyrodb_index_stats('backlog_idx'))), '1000',
	'leaving the last 1,000 rows in the hot tier');
is($querier->query_safe($nearest), '5', 'the next query keeps those rows');
my $flushed = $querier->query_safe($rss);
$querier->quit;
SKIP: {
	# AddressSanitizer keeps freed memory in quarantine (the copy is still
	# checked for bad accesses, not for memory given back)
	skip 'memory is not given back under the sanitizers', 2 if ($ENV{KYRODB_SANITIZE} // 0);
	cmp_ok($read - $before, '>=', 40, "the copy took @{[$read - $before]} MB");
	cmp_ok($read - $flushed, '>=', 40, "and gave back @{[$read - $flushed]} MB once 1,000 rows were left");
}

done_testing();
