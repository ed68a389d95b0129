# Recall@10 of the kyrodb index at default settings against brute force, on
# 100,000 embedding-like synthetic 128-d vectors and on fashion-mnist-784
# (60,000 images; queries from its test set). Also prints queries per second
# at ef_search 40 and 100 (one connection, pgbench), for the record.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;
use Time::HiRes qw(time);

my $datagen = $ENV{KYRODB_DATAGEN} or die "KYRODB_DATAGEN is not set";
my $fashion = '/usr/share/datasets/fashion-mnist';

my $node = PostgreSQL::Test::Cluster->new('recall');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'kyrodb'
shared_buffers = 1GB
maintenance_work_mem = 2GB
max_wal_size = 8GB
checkpoint_timeout = 30min
));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION kyrodb');

sub load {
	my ($table, $dim, $command) = @_;
	$node->safe_psql('postgres', "CREATE TABLE $table (id int PRIMARY KEY, v vector($dim))");
	copy_from_command($node, $table, $command);
}

# Mean recall@10 of the index against truth_<name>, which was computed by
# sequential scan before the index existed.
sub recall {
	my ($name, $base, $queries, $op, $ef) = @_;
	return $node->safe_psql('postgres', qq(
		SET kyrodb.ef_search = $ef;
		SET enable_seqscan = off;
		SELECT round(avg((SELECT count(*) FROM unnest(g.ids) x WHERE x = ANY (t.ids)) / 10.0), 4)
		  FROM truth_$name t
		  JOIN LATERAL (SELECT ARRAY(SELECT b.id FROM $base b ORDER BY b.v $op q.v LIMIT 10) AS ids
		                  FROM $queries q WHERE q.id = t.qid) g ON true));
}

sub qps {
	my ($base, $queries, $op, $ef, $nqueries) = @_;
	my $script = "${PostgreSQL::Test::Utils::tmp_check}/q_$base.sql";
	open my $f, '>', $script or die;
	print $f "\\set q random(1, $nqueries)\n";
	print $f "SELECT id FROM $base ORDER BY v $op (SELECT v FROM $queries WHERE id = :q) LIMIT 10;\n";
	close $f;
	local $ENV{PGOPTIONS} = "-c kyrodb.ef_search=$ef";
	my ($stdout, $stderr);
	IPC::Run::run(['pgbench', '-n', '-c', '1', '-T', '5', '-f', $script, '-h', $node->host, '-p', $node->port,
		'postgres'], '>', \$stdout, '2>', \$stderr) or die "pgbench failed: $stderr";
	return $stdout =~ /tps = ([0-9.]+)/ ? sprintf('%.0f', $1) : 'n/a';
}

sub truth {
	my ($name, $base, $queries, $op) = @_;
	$node->safe_psql('postgres', qq(
		CREATE TABLE truth_$name AS
		SELECT q.id AS qid, ARRAY(SELECT b.id FROM $base b ORDER BY b.v $op q.v LIMIT 10) AS ids FROM $queries q));
}

# Builds the index in the background and watches its progress report.
sub build {
	my ($base, $opclass) = @_;
	my $t0 = time;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(['psql', '-X', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-c',
		"CREATE INDEX ON $base USING kyrodb (v $opclass)"], '>', \$out, '2>', \$err);
	my $seen = $node->poll_query_until('postgres', q(
		SELECT count(*) > 0 FROM pg_stat_progress_create_index
		 WHERE phase = 'building index: building graph' AND tuples_done > 0 AND tuples_total > 0));
	$h->finish or die "CREATE INDEX failed: $err";
	ok($seen, "$base: pg_stat_progress_create_index shows the graph being built");
	return sprintf('%.1f', time - $t0);
}

# ---- embedding-like synthetic, 100,000 x 128, L2
load('synth', 128, "$datagen synthetic 100000 128 1");
load('synth_q', 128, "$datagen synthetic 100 128 2");
truth('synth', 'synth', 'synth_q', '<->');
my $secs = build('synth', 'vector_l2_ops');
my $r40 = recall('synth', 'synth', 'synth_q', '<->', 40);
my $r100 = recall('synth', 'synth', 'synth_q', '<->', 100);
my $r10 = recall('synth', 'synth', 'synth_q', '<->', 10);
diag("synthetic 100000x128 L2: build ${secs}s; recall\@10 $r10 at ef_search 10, $r40 at ef_search 40 ("
	  . qps('synth', 'synth_q', '<->', 40, 100) . " QPS), $r100 at ef_search 100 ("
	  . qps('synth', 'synth_q', '<->', 100, 100) . " QPS)");
cmp_ok($r40, '>=', 0.95, 'synthetic: recall@10 at default ef_search is at least 0.95');
# Recall never falls as ef_search rises, below LIMIT too (where later stages find the rest).
# Counted in neighbours found of the 1,000 (100 queries, top 10): at no ef_search fewer than at
# a smaller one, but for one. Graphs are built by one thread per CPU, so each run's graph
# differs and a wider beam can lose a neighbour a narrower one found by chance (1,000 -> 999 in
# one run of many); the fall the issue fixed was systematic, 31 of 1,000.
sub monotonic {
	my ($what) = @_;
	my @efs = (5, 10, 20, 40, 80, 160);
	my @r = map { recall('synth', 'synth', 'synth_q', '<->', $_) } @efs;
	diag("$what: recall\@10 at ef_search @efs: @r");
	my @found = map { sprintf('%.0f', $_ * 1000) } @r;
	my $best = 0;
	my @falls;
	for my $i (0 .. $#found) {
		push @falls, $efs[$i] if $found[$i] < $best - 1;
		$best = $found[$i] if $found[$i] > $best;
	}
	is("@falls", '', "$what: recall does not fall as ef_search rises (by more than one neighbour of 1,000)");
	return $r[3];
}
monotonic('synthetic, one segment');

# ---- the same rows with quantization = 'sq8': the walk reads 8-bit codes,
# the answers are re-ranked on the full vectors
$node->safe_psql('postgres', q(
	CREATE TABLE synth8 (id int PRIMARY KEY, v vector(128));
	INSERT INTO synth8 SELECT * FROM synth;
	CREATE INDEX synth8_idx ON synth8 USING kyrodb (v vector_l2_ops) WITH (quantization = 'sq8')));
my $q40 = recall('synth', 'synth8', 'synth_q', '<->', 40);
my $q10 = recall('synth', 'synth8', 'synth_q', '<->', 10);
diag("synthetic 100000x128 L2, sq8: recall\@10 $q10 at ef_search 10, $q40 at ef_search 40 ("
	  . qps('synth8', 'synth_q', '<->', 40, 100) . " QPS)");
cmp_ok($q40, '>=', 0.95, 'sq8: recall@10 at default ef_search is at least 0.95');
$node->safe_psql('postgres', 'DROP TABLE synth8');

# ---- grown by 20 % in four flushed batches: segments of different sizes,
# searched largest first, the smaller ones bounded by the larger's distance
for my $batch (0 .. 3) {
	my $first = 100001 + $batch * 5000;
	copy_from_command($node, 'synth',
		"$datagen synthetic 5000 128 " . (10 + $batch) . " | awk -F'\\t' -v OFS='\\t' '{ \$1 += $first - 1; print }'");
	$node->safe_psql('postgres', "SELECT kyrodb_flush('synth_v_idx')");
}
$node->safe_psql('postgres', 'DROP TABLE truth_synth');
truth('synth', 'synth', 'synth_q', '<->');
my $segments = $node->safe_psql('postgres', "SELECT segments FROM kyrodb_index_stats('synth_v_idx')");
cmp_ok($segments, '>', 1, "grown: the index has several segments ($segments)");
my $rgrown = monotonic("synthetic grown to 120,000 rows, $segments segments");
cmp_ok($rgrown, '>=', 0.95, 'grown: recall@10 at default ef_search is at least 0.95');

# ---- after deleting half the rows and VACUUM
$node->safe_psql('postgres', 'DELETE FROM synth WHERE id % 2 = 0');
$node->safe_psql('postgres', 'VACUUM synth');
$node->safe_psql('postgres', 'DROP TABLE truth_synth');
truth('synth', 'synth', 'synth_q', '<->');
my $rdel = recall('synth', 'synth', 'synth_q', '<->', 40);
diag("synthetic after deleting half and VACUUM: recall\@10 $rdel at ef_search 40; index "
	  . $node->safe_psql('postgres', "SELECT * FROM kyrodb_index_stats('synth_v_idx')"));
cmp_ok($rdel, '>=', 0.95, 'synthetic: recall@10 stays at least 0.95 after deleting half the rows and vacuuming');

# ---- fashion-mnist-784: 60,000 training images, 100 test images as queries, L2
load('fashion', 784, "$datagen idx $fashion/train-images-idx3-ubyte.gz");
load('fashion_q', 784, "$datagen idx $fashion/t10k-images-idx3-ubyte.gz 100");
truth('fashion', 'fashion', 'fashion_q', '<->');
$secs = build('fashion', 'vector_l2_ops');
my $f40 = recall('fashion', 'fashion', 'fashion_q', '<->', 40);
diag("fashion-mnist 60000x784 L2: build ${secs}s; recall\@10 $f40 at ef_search 40 ("
	  . qps('fashion', 'fashion_q', '<->', 40, 100) . " QPS)");
cmp_ok($f40, '>=', 0.95, 'fashion-mnist: recall@10 at default ef_search is at least 0.95');

done_testing();
