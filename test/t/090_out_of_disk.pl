# Out of disk: the server runs with a file size limit (ulimit -f; Postgres
# ignores SIGXFSZ, so a write past it fails with EFBIG as a full disk's
# ENOSPC would). A CREATE INDEX and a flush that cannot extend the index fail
# with an error and leave nothing broken: the table and the index still
# answer, every row is found, kyrodb_verify_index passes (pages a failed
# flush claimed are accounted for), and once space is there again the next
# flush succeeds.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

my $datagen = $ENV{KYRODB_DATAGEN} or die "KYRODB_DATAGEN is not set";

# pg_ctl is found in PATH: a wrapper that starts the server with the limit
# (20 MB per file; WAL segments are 16 MB) once limit_files asks for one.
my $bin = "${PostgreSQL::Test::Utils::tmp_check}/limited-bin";
mkdir $bin;
my $real = `sh -c 'command -v pg_ctl'`;
chomp $real;
open my $f, '>', "$bin/pg_ctl" or die;
print $f "#!/bin/sh\n[ -f \"$bin/limit\" ] && ulimit -f \$(cat \"$bin/limit\")\nexec \"$real\" \"\$@\"\n";
close $f;
chmod 0755, "$bin/pg_ctl";
$ENV{PATH} = "$bin:$ENV{PATH}";

# The limit in MB (sh's ulimit -f counts 512-byte blocks), or none.
sub limit_files {
	my ($mb) = @_;
	if (defined $mb) {
		open my $l, '>', "$bin/limit" or die;
		print $l $mb * 2048, "\n";
		close $l;
	} else {
		unlink "$bin/limit";
	}
}

my $node = kyrodb_node('disk');
$node->safe_psql('postgres', 'CREATE TABLE items (id int PRIMARY KEY, v vector(64))');
copy_from_command($node, 'items', "$datagen synthetic 60000 64 5");
my $heap_mb = $node->safe_psql('postgres', q(SELECT pg_relation_size('items') >> 20));
limit_files(20);
$node->restart;

# ---- CREATE INDEX runs out of space
my ($ret, $out, $err) = $node->psql('postgres', 'CREATE INDEX items_idx ON items USING kyrodb (v)');
like($err, qr/could not extend file|File too large|No space left/,
	"CREATE INDEX fails when the index cannot grow past 20 MB (heap $heap_mb MB)");
is($node->safe_psql('postgres', q(SELECT count(*) FROM pg_class WHERE relname = 'items_idx')), '0',
	'the failed CREATE INDEX left no index');

# ---- an index on half the rows fits; the other half goes to the hot tier; the flush does not fit
$node->safe_psql('postgres', q(
	CREATE TABLE half AS SELECT * FROM items WHERE id <= 30000;
	CREATE INDEX half_idx ON half USING kyrodb (v);
	SET kyrodb.flush_threshold = 1000000;));
$node->safe_psql('postgres', q(ALTER SYSTEM SET kyrodb.flush_threshold = 1000000; SELECT pg_reload_conf();));
$node->safe_psql('postgres', 'INSERT INTO half SELECT * FROM items WHERE id > 30000 AND id <= 50000');
($ret, $out, $err) = $node->psql('postgres', q(SELECT kyrodb_flush('half_idx')));
like($err, qr/could not extend file|File too large|No space left/, 'a flush that cannot grow the index fails');
is($node->safe_psql('postgres', q(SELECT kyrodb_verify_index('half_idx', true))), '',
	'the index verifies after the failed flush (its claimed pages are accounted for)');
is(rows_not_found($node, 'half'), '0', 'every row is still found (the hot tier kept them)');
($ret, $out, $err) = $node->psql('postgres', q(INSERT INTO half VALUES (100001, (SELECT v FROM half WHERE id = 1));
	SET enable_seqscan = off; SELECT id FROM half ORDER BY v <-> (SELECT v FROM half WHERE id = 5) LIMIT 1;));
is($out, '5', 'inserts and queries go on');

# ---- space again: the next flush gives the claims back and succeeds
limit_files(undef);
$node->restart;
is($node->safe_psql('postgres', q(SELECT kyrodb_flush('half_idx') > 0; SELECT kyrodb_verify_index('half_idx', true);
	SELECT hot_rows FROM kyrodb_index_stats('half_idx');)), "t\n\n0", 'with space, the next flush succeeds');
is(rows_not_found($node, 'half'), '0', 'every row is found after it');

done_testing();
