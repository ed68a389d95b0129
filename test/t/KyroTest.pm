# Helpers shared by kyrodb's TAP tests.
package KyroTest;
use strict;
use warnings;
use Exporter 'import';
use Time::HiRes qw(usleep);

our @EXPORT = qw(crash_and_restart);

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

1;
