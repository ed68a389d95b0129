# Vectors are ordinary heap data: committed rows survive a crash (kill -9 of
# the postmaster) and reach a streaming standby unchanged.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'kyrodb'");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION kyrodb');
$primary->safe_psql('postgres',
	"CREATE TABLE items (id int PRIMARY KEY, v vector(16));
	 INSERT INTO items SELECT i, (SELECT array_agg(sin(i * 16 + j)) FROM generate_series(1, 16) j)::vector
	   FROM generate_series(1, 2000) i;");

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres',
	"INSERT INTO items SELECT i, (SELECT array_agg(cos(i * 16 + j)) FROM generate_series(1, 16) j)::vector
	   FROM generate_series(2001, 3000) i;");
$primary->wait_for_catchup($standby);

my $digest = "SELECT count(*), md5(string_agg(v::text, ';' ORDER BY id)),
                     md5(string_agg((v <-> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]')::text, ';' ORDER BY id))
                FROM items";
my $on_primary = $primary->safe_psql('postgres', $digest);
like($on_primary, qr/^3000\|/, 'primary has every row');
is($standby->safe_psql('postgres', $digest), $on_primary, 'standby returns the same vectors');

# Crash: rows committed before kill -9 are all there after recovery.
$primary->safe_psql('postgres', "INSERT INTO items VALUES (3001, array_fill(0.5, ARRAY[16])::vector)");
crash_and_restart($primary);
is($primary->safe_psql('postgres', 'SELECT count(*) FROM items'), '3001', 'committed rows survive kill -9');
is($primary->safe_psql('postgres', 'SELECT v FROM items WHERE id = 3001'),
	'[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]', 'last committed vector intact');

done_testing();
