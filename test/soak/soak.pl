# make soak: SOAK_MINUTES (default 30) of concurrent INSERT, UPDATE, DELETE,
# filtered and unfiltered SELECT on 384-dimensional embedding-like vectors,
# with VACUUM, kyrodb_flush and the background flushes and merges, at
# kyrodb's default settings, with a streaming standby attached. Every minute
# the index's answers (ef_search 400) are compared with exact answers from a
# sequential scan in the same snapshot, on the primary and on the standby,
# and 200 queries at the default ef_search are timed. At the end:
# kyrodb_verify_index(..., true) on both, every row found by its own vector.
# Writes summary.md to SOAK_OUT.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use KyroTest;

my $minutes = $ENV{SOAK_MINUTES} // 30;
my $out_dir = $ENV{SOAK_OUT} or die 'SOAK_OUT is not set';
my $datagen = $ENV{KYRODB_DATAGEN} or die 'KYRODB_DATAGEN is not set';

my $primary = PostgreSQL::Test::Cluster->new('soak_primary');
$primary->init(allows_streaming => 1);
# kyrodb at its defaults; Postgres's too, but for what a 30-minute write load needs
$primary->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'kyrodb'
max_wal_size = 4GB
restart_after_crash = off
));
$primary->start;
$primary->safe_psql('postgres', q(
	CREATE EXTENSION kyrodb;
	CREATE TABLE base (id int PRIMARY KEY, v vector(384));
	CREATE TABLE docs (id bigserial PRIMARY KEY, category int NOT NULL, v vector(384));));
copy_from_command($primary, 'base', "$datagen synthetic 60000 384 11");
$primary->safe_psql('postgres', q(
	INSERT INTO docs (category, v) SELECT id % 100, v FROM base WHERE id <= 50000;
	CREATE INDEX docs_idx ON docs USING kyrodb (v);
	CREATE INDEX docs_category ON docs (category);
	ANALYZE;
	-- the time of each of n queries at the default ef_search, in ms
	CREATE FUNCTION soak_timing(n int) RETURNS float8[] LANGUAGE plpgsql AS $$
	DECLARE t0 timestamptz; ms float8[] := '{}'; q vector; r record;
	BEGIN
	  SET LOCAL enable_seqscan = off;
	  FOR i IN 1..n LOOP
	    SELECT v INTO q FROM base WHERE id = 50001 + (i * 37) % 10000;
	    t0 := clock_timestamp();
	    FOR r IN SELECT id FROM docs ORDER BY v <-> q LIMIT 10 LOOP END LOOP;
	    ms := ms || extract(epoch FROM clock_timestamp() - t0) * 1000;
	  END LOOP;
	  RETURN ms;
	END $$;));
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('soak_standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# KyroTest's rows_not_found with the memory its NOT IN needs at this size
# (hashed, not a quadratic scan of 270,000 ids).
sub rows_lost {
	my ($node) = @_;
	return $node->safe_psql('postgres', q(
		SET work_mem = '512MB';
		SET kyrodb.exact_search = on;
		SET kyrodb.max_scan_tuples = 10000000;
		SET enable_seqscan = off;
		WITH scanned AS (
		  SELECT id FROM docs ORDER BY v <-> (SELECT v FROM docs WHERE v IS NOT NULL LIMIT 1) LIMIT 10000000)
		SELECT (SELECT count(*) FROM docs WHERE v IS NOT NULL AND id NOT IN (SELECT id FROM scanned))
		     + (SELECT count(*) - count(DISTINCT id) FROM scanned)
		     + (SELECT count(*) FROM docs i
		         WHERE i.v IS NOT NULL AND (i.id % 500 = 0 OR i.id > (SELECT max(id) - 200 FROM docs))
		           AND i.id <> ALL (ARRAY(SELECT j.id FROM docs j ORDER BY j.v <-> i.v LIMIT 3)))));
}

# ---- the load
my $dir = $PostgreSQL::Test::Utils::tmp_check;
my %scripts = (
	insert => q(\set r random(1, 60000)
\set c random(0, 99)
INSERT INTO docs (category, v) SELECT :c, b.v + (SELECT array_agg((random() - 0.5) * 0.02)::vector FROM generate_series(1, 384)) FROM base b WHERE b.id = :r;
),
	update => q(\set r random(1, 60000)
\set k random(0, 5000)
UPDATE docs SET v = (SELECT v FROM base WHERE id = :r) WHERE id = (SELECT max(id) FROM docs) - :k;
),
	delete => q(\set k random(0, 20000)
DELETE FROM docs WHERE id = (SELECT max(id) FROM docs) - :k;
),
	select => q(\set r random(50001, 60000)
SELECT id FROM docs ORDER BY v <-> (SELECT v FROM base WHERE id = :r) LIMIT 10;
),
	filtered => q(\set r random(50001, 60000)
\set c random(0, 99)
SELECT id FROM docs WHERE category = :c ORDER BY v <-> (SELECT v FROM base WHERE id = :r) LIMIT 10;
),
);
my %weight = (insert => 6, update => 2, delete => 1, select => 6, filtered => 2);
my @files;
for my $name (sort keys %scripts) {
	my $file = "$dir/$name.sql";
	open my $f, '>', $file or die;
	print $f $scripts{$name};
	close $f;
	push @files, '-f', "$file\@$weight{$name}";
}
my ($bench_out, $bench_err) = ('', '');
my $bench = IPC::Run::start(['pgbench', '-n', '-c', '3', '-j', '1', '-T', $minutes * 60, @files,
	'-h', $primary->host, '-p', $primary->port, 'postgres'], '>', \$bench_out, '2>', \$bench_err);

# ---- every minute: recall on both servers, p99, segments; VACUUM and flush in between
my $truth_and_index = q(
	BEGIN ISOLATION LEVEL REPEATABLE READ;
	SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off;
	SELECT string_agg(array_to_string(ARRAY(SELECT id FROM docs ORDER BY v <-> (SELECT v FROM base WHERE id = q) LIMIT 10), ','), ';' ORDER BY q)
	  FROM generate_series(50001, 60000, 500) q;
	SET LOCAL enable_indexscan = on; SET LOCAL enable_seqscan = off; SET LOCAL kyrodb.ef_search = 400;
	SELECT string_agg(array_to_string(ARRAY(SELECT id FROM docs ORDER BY v <-> (SELECT v FROM base WHERE id = q) LIMIT 10), ','), ';' ORDER BY q)
	  FROM generate_series(50001, 60000, 500) q;
	COMMIT;);

sub recall {
	my ($node) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $truth_and_index);
	return ('error', $err) if $ret != 0;
	my ($truth, $index) = split /\n/, $out;
	my @t = split /;/, $truth // '';
	my @i = split /;/, $index // '';
	my ($hit, $all) = (0, 0);
	for my $q (0 .. $#t) {
		my %want = map { $_ => 1 } split /,/, $t[$q];
		$all += scalar keys %want;
		$hit += grep { $want{$_} } split /,/, ($i[$q] // '');
	}
	return ($all ? sprintf('%.3f', $hit / $all) : 'n/a', '');
}

my @rows;
my $errors = 0;
my @problems;
my $start = time;
my ($next_vacuum, $next_flush, $next_check) = ($start + 20, $start + 45, $start + 60);
while (time < $start + $minutes * 60 && $bench->pumpable) {
	$bench->pump_nb;
	my $now = time;
	if ($now >= $next_vacuum) {
		my ($ret, $o, $e) = $primary->psql('postgres', 'VACUUM docs');
		if ($ret != 0) { $errors++; push @problems, "VACUUM: $e"; }
		$next_vacuum += 20;
	}
	if ($now >= $next_flush) {
		my ($ret, $o, $e) = $primary->psql('postgres', "SELECT kyrodb_flush('docs_idx')");
		if ($ret != 0) { $errors++; push @problems, "kyrodb_flush: $e"; }
		$next_flush += 45;
	}
	if ($now >= $next_check) {
		my ($rp, $ep) = recall($primary);
		my ($rs, $es) = recall($standby);
		for my $e (grep { $_ ne '' } $ep, $es) { $errors++; push @problems, "recall check: $e"; }
		my ($stats) = $primary->safe_psql('postgres', q(
			SELECT segments || ' ' || hot_rows || ' ' || (SELECT count(*) FROM docs) FROM kyrodb_index_stats('docs_idx')));
		my ($segments, $hot, $count) = split / /, $stats;
		my $ms = $primary->safe_psql('postgres', q(
			SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY t) || ' ' || percentile_cont(0.5) WITHIN GROUP (ORDER BY t)
			  FROM unnest(soak_timing(200)) t));
		my ($p99, $p50) = map { sprintf('%.2f', $_) } split / /, $ms;
		my $minute = int(($now - $start) / 60 + 0.5);
		push @rows, "| $minute | $count | $segments | $hot | $rp | $rs | $p50 | $p99 |";
		diag("minute $minute: rows $count, segments $segments, hot $hot, recall $rp / $rs, p50 $p50 ms, p99 $p99 ms");
		$next_check += 60;
	}
	sleep 0.2;
}
$bench->finish;
my ($transactions) = $bench_out =~ /number of transactions actually processed: (\d+)/;
my ($failed) = $bench_out =~ /number of failed transactions: (\d+)/;
my $aborted = () = $bench_err =~ /aborted/g;
is($aborted, 0, 'no pgbench client aborted on an error') or diag($bench_err);
is($errors, 0, 'VACUUM, kyrodb_flush and the checks raised no error') or diag(join("\n", @problems));

# ---- the end
$primary->safe_psql('postgres', 'VACUUM docs');
$primary->wait_for_catchup($standby);
my %verified;
for my $node ($primary, $standby) {
	my ($ret, $o, $e) = $node->psql('postgres', "SELECT kyrodb_verify_index('docs_idx', true)");
	$verified{$node->name} = $ret == 0 ? 'pass' : "FAIL: $e";
	is($ret . $e, '0', 'kyrodb_verify_index(heapallindexed) passes on ' . $node->name);
}
my $lost = rows_lost($primary);
is($lost, '0', 'no row lost: every row comes out of a full index scan and a sample (1 in 500) is found by its vector');
my ($final_segments) = $primary->safe_psql('postgres', q(SELECT segments FROM kyrodb_index_stats('docs_idx')));

my $commit = `git -C $ENV{KYRODB_SOURCE} rev-parse --short HEAD 2>/dev/null` // '';
chomp $commit;
open my $summary, '>', "$out_dir/summary.md" or die;
print $summary "# kyrodb soak\n\n";
print $summary "Commit $commit, " . `date -u +'%Y-%m-%d %H:%M UTC'`;
print $summary "Machine: " . `nproc | tr -d '\n'` . " cores, " . `free -g | awk '/Mem:/ {print \$2}' | tr -d '\n'` . " GB, PostgreSQL " .
  $primary->safe_psql('postgres', 'SHOW server_version') . ", kyrodb at default settings, a streaming standby.\n\n";
print $summary "Load: $minutes minutes of pgbench, 3 clients, INSERT (6) / UPDATE (2) / DELETE (1) / SELECT (6) / filtered SELECT (2) " .
  "on 384-dim embedding-like vectors (50,000 rows to start); VACUUM every 20 s, kyrodb_flush every 45 s, background flushes and merges.\n\n";
print $summary "| result | |\n| --- | --- |\n";
print $summary "| transactions | " . ($transactions // 'n/a') . " |\n";
print $summary "| errors (pgbench aborts, failed VACUUM/flush/checks) | " . ($aborted + $errors) . " |\n";
print $summary "| rows lost | $lost |\n";
print $summary "| kyrodb_verify_index(heapallindexed) primary / standby | $verified{soak_primary} / $verified{soak_standby} |\n";
print $summary "| segments at the end | $final_segments |\n\n";
print $summary "Recall@10 at ef_search 400 against a sequential scan in the same snapshot (20 queries), primary / standby; " .
  "latency of 200 queries at ef_search 40 on the primary, under the load:\n\n";
print $summary "| minute | rows | segments | hot rows | recall primary | recall standby | p50 ms | p99 ms |\n";
print $summary "| --- | --- | --- | --- | --- | --- | --- | --- |\n";
print $summary "$_\n" for @rows;
close $summary;
diag("summary: $out_dir/summary.md");

done_testing();
