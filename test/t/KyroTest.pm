# Helpers shared by kyrodb's TAP tests.
package KyroTest;
use strict;
use warnings;
use Exporter 'import';
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(copy_from_command crash_and_restart id_recall kyrodb_node pgbench_files rows_not_found
	wait_for_connections);

# A hard crash: SIGKILL to the postmaster and to every one of its processes
# at once (as a power cut would leave them), then a restart, which runs crash
# recovery. Killing only the postmaster leaves its children holding the data
# directory until they notice, so the restart would race them.
sub crash_and_restart {
	my ($node) = @_;
	my @pids = split /\n/, $node->safe_psql('postgres',
		'SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()');
	$node->kill9;
	kill 'KILL', @pids;
	for my $pid (@pids) {
		usleep(10_000) while kill 0, $pid;
	}
	$node->start;
}

# Waits until NODE accepts connections again after a crash it restarts from by
# itself (a PANIC); false after the default timeout. Not poll_query_until: it
# writes its query to psql's stdin, and a psql that has already exited on "the
# database system is in recovery mode" makes that write die of a broken pipe.
sub wait_for_connections {
	my ($node) = @_;
	for (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default) {
		my ($out, $err) = ('', '');
		IPC::Run::run(['psql', '-XAt', '-d', $node->connstr('postgres'), '-c', 'SELECT true'],
			'<', '/dev/null', '>', \$out, '2>', \$err);
		return 1 if $out eq "t\n";
		usleep(100_000);
	}
	return 0;
}

# A started node with kyrodb preloaded and the extension created.
sub kyrodb_node {
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%opts);
	$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'kyrodb'
shared_buffers = 256MB
maintenance_work_mem = 512MB
max_wal_size = 4GB
));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION kyrodb');
	return $node;
}

# Loads TABLE of NODE's postgres database with COPY from what the shell
# COMMAND prints (a data generator, typically); dies if either side fails.
sub copy_from_command {
	my ($node, $table, $command) = @_;
	my $connstr = $node->connstr('postgres');
	system('bash', '-c', "set -o pipefail; $command | psql -X -q -d \"$connstr\" -c 'COPY $table FROM STDIN'") == 0
	  or die "loading $table failed";
}

# pgbench's -f arguments for SCRIPTS (file name => body), written to the
# test's temporary directory, each with its weight in WEIGHTS (file name =>
# weight) if it has one.
sub pgbench_files {
	my ($scripts, $weights) = @_;
	my @files;
	for my $name (sort keys %$scripts) {
		my $path = "${PostgreSQL::Test::Utils::tmp_check}/$name";
		open my $f, '>', $path or die "cannot write $path: $!";
		print $f $scripts->{$name};
		close $f;
		push @files, '-f', defined $weights->{$name} ? "$path\@$weights->{$name}" : $path;
	}
	return @files;
}

# Rows of TABLE (id, v) missing from the index. Every row must come out of
# one full index scan, and a sample of rows (every 50th, and the newest 200)
# must be found by its own vector in an exact index search, which compares
# the query with every vector the index holds.
sub rows_not_found {
	my ($node, $table) = @_;
	return $node->safe_psql('postgres', qq(
		SET kyrodb.exact_search = on;
		SET kyrodb.max_scan_tuples = 1000000;
		SET enable_seqscan = off;
		WITH scanned AS (
		  SELECT id FROM $table ORDER BY v <-> (SELECT v FROM $table WHERE v IS NOT NULL LIMIT 1) LIMIT 1000000)
		SELECT (SELECT count(*) FROM $table WHERE v IS NOT NULL AND id NOT IN (SELECT id FROM scanned))
		     + (SELECT count(*) - count(DISTINCT id) FROM scanned)
		     + (SELECT count(*) FROM $table i
		         WHERE i.v IS NOT NULL AND (i.id % 50 = 0 OR i.id > (SELECT max(id) - 200 FROM $table))
		           AND i.id <> ALL (ARRAY(SELECT j.id FROM $table j ORDER BY j.v <-> i.v LIMIT 3)))));
}

# The share of the ids in EXACT (lines of comma-separated ids, one per query)
# that FOUND has on the same line.
sub id_recall {
	my ($exact, $found) = @_;
	my ($hits, $all) = (0, 0);
	my @f = split /\n/, $found;
	for my $line (split /\n/, $exact) {
		my %got = map { $_ => 1 } split /,/, shift(@f) // '';
		for (split /,/, $line) { $all++; $hits++ if $got{$_}; }
	}
	return $all ? $hits / $all : 0;
}

1;
