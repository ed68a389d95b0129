# Sharding on PostgreSQL's own engine: a coordinator whose partitioned table
# has postgres_fdw foreign tables as partitions, each on a shard with its own
# kyrodb index. Checks that ORDER BY ... LIMIT over the parent is answered by
# the shards' kyrodb indexes (their own statistics say so, not only the local
# plan) as well as one server holding every row, that the per-shard UNION ALL
# form runs the shards concurrently, and that a shard that is down gives an
# error rather than a shorter answer.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX qw(floor);
use KyroTest;

my $dim = 16;
my $rows = 20000;
my $coord = kyrodb_node('coordinator');
my @shards = map { kyrodb_node("shard$_") } (1, 2);

for my $shard (@shards) {
	$shard->safe_psql('postgres', "CREATE TABLE docs (id int PRIMARY KEY, embedding vector($dim), cat int);
		CREATE INDEX docs_embedding ON docs USING kyrodb (embedding, cat);");
}
# The coordinator: the sharded table, and the same rows in one local table
# (the single server the shards are compared with).
$coord->safe_psql('postgres', qq(
	CREATE EXTENSION postgres_fdw;
	CREATE TABLE docs (id int, embedding vector($dim), cat int) PARTITION BY HASH (id);));
for my $i (0, 1) {
	my $shard = $shards[$i];
	my $s = $i + 1;
	$coord->safe_psql('postgres', sprintf(q(
		CREATE SERVER shard%d FOREIGN DATA WRAPPER postgres_fdw
		  OPTIONS (host '%s', port '%d', dbname 'postgres', extensions 'kyrodb', async_capable 'true',
		           fetch_size '50', batch_size '1000', options '-c jit=off');
		CREATE USER MAPPING FOR CURRENT_USER SERVER shard%d;
		CREATE FOREIGN TABLE docs_%d PARTITION OF docs FOR VALUES WITH (MODULUS 2, REMAINDER %d)
		  SERVER shard%d OPTIONS (table_name 'docs');),
		$s, $shard->host, $shard->port, $s, $s, $i, $s));
}
# Uniform pseudo-random vectors in [0, 1): the fractional part of a scaled sine.
my $gen = "SELECT g, (SELECT array_agg(x - floor(x)) FROM (SELECT sin(g * 12.9898 + j * 78.233) * 43758.5453 AS x
	  FROM generate_series(1, $dim) j) r)::vector, g % 10
	FROM generate_series(1, $rows) g";
$coord->safe_psql('postgres', "INSERT INTO docs $gen;
	CREATE TABLE docs_all (id int PRIMARY KEY, embedding vector($dim), cat int);
	INSERT INTO docs_all $gen;
	CREATE INDEX ON docs_all USING kyrodb (embedding, cat);");
is(join(',', map { $_->safe_psql('postgres', 'SELECT count(*) FROM docs') } @shards),
	join(',', map { $coord->safe_psql('postgres', "SELECT count(*) FROM docs_$_") } (1, 2)),
	'the rows went to their shards');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM docs'), $rows, 'every row is on a shard');

# 20 query vectors, as literals: a constant ships to the shards.
my @queries = map { my $q = 100000 + $_;
	'[' . join(',', map { my $x = sin($q * 12.9898 + $_ * 78.233) * 43758.5453; sprintf('%.6f', $x - floor($x)) } 1 .. $dim) . ']' }
	1 .. 20;
# The 10 nearest ids of each query, one line each; QUERY in $sql stands for the vector.
sub nearest {
	my ($sql) = @_;
	my @parts = map { my $s = $sql; $s =~ s/QUERY/'$queries[$_]'::vector/g;
		"($_, array_to_string(ARRAY($s), ','))" } 0 .. $#queries;
	return $coord->safe_psql('postgres',
		'SELECT string_agg(ids, E\'\\n\' ORDER BY q) FROM (VALUES ' . join(',', @parts) . ') v(q, ids)');
}
sub index_scans {
	my ($shard) = @_;
	return $shard->safe_psql('postgres',
		q(SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'docs_embedding'));
}

my $exact = nearest("SELECT id FROM docs_all ORDER BY embedding <-> QUERY, id LIMIT 10");
my $single = nearest("SELECT id FROM docs_all ORDER BY embedding <-> QUERY LIMIT 10");
my @before = map { index_scans($_) } @shards;
my $parent = nearest("SELECT id FROM docs ORDER BY embedding <-> QUERY LIMIT 10");
cmp_ok(id_recall($exact, $single), '>=', 0.95, 'one server: recall@10 against exact: ' . id_recall($exact, $single));
cmp_ok(id_recall($exact, $parent), '>=', 0.95,
	'sharded, ORDER BY over the parent: recall@10 against exact: ' . id_recall($exact, $parent));
cmp_ok(id_recall($exact, $parent), '>=', id_recall($exact, $single) - 0.02, 'no worse than one server');

# What the shards were asked, and how they answer it: postgres_fdw reads
# through a cursor without LIMIT, which must not become a sort of every row.
my $plan = $coord->safe_psql('postgres', qq(EXPLAIN (VERBOSE, COSTS OFF)
	SELECT id FROM docs ORDER BY embedding <-> '$queries[0]' LIMIT 10));
like($plan, qr/Merge Append.*Foreign Scan on public\.docs_1.*Remote SQL: SELECT .* ORDER BY \(embedding OPERATOR\(public\.<->\)/s,
	'the coordinator ships the ORDER BY to the shards');
my ($remote) = $plan =~ /Remote SQL: (SELECT .*?)\n/;
like($shards[0]->safe_psql('postgres', "BEGIN; EXPLAIN (COSTS OFF) DECLARE c CURSOR FOR $remote; COMMIT"),
	qr/^Index Scan using docs_embedding on (public\.)?docs/m, "the shard's plan for it is its kyrodb index");
# The shards' own statistics: every query was an index scan on each shard.
$coord->safe_psql('postgres', 'SELECT postgres_fdw_disconnect_all()');
for my $i (0, 1) {
	ok($shards[$i]->poll_query_until('postgres', qq(SELECT idx_scan >= $before[$i] + 20
		FROM pg_stat_user_indexes WHERE indexrelname = 'docs_embedding')),
		'shard ' . ($i + 1) . "'s kyrodb index answered each query");
}

# Filters travel with the query and are answered inside the shards' indexes.
my $exact3 = nearest("SELECT id FROM docs_all WHERE cat = 3 ORDER BY embedding <-> QUERY, id LIMIT 10");
my $parent3 = nearest("SELECT id FROM docs WHERE cat = 3 ORDER BY embedding <-> QUERY LIMIT 10");
cmp_ok(id_recall($exact3, $parent3), '>=', 0.95, 'sharded with a filter column: recall@10');

# The shards in parallel: one LIMIT per shard in a UNION ALL, whose parts
# (the distance computed where the rows arrive) run as Async Foreign Scans,
# materialised so that the planner sorts them instead of merging them one
# shard at a time.
my $union = "WITH u AS MATERIALIZED (
	(SELECT id, embedding <-> QUERY AS d FROM docs_1 ORDER BY 2 LIMIT 10)
	UNION ALL
	(SELECT id, embedding <-> QUERY AS d FROM docs_2 ORDER BY 2 LIMIT 10))
	SELECT id FROM u ORDER BY d LIMIT 10";
(my $union0 = $union) =~ s/QUERY/'$queries[0]'/g;
like($coord->safe_psql('postgres', qq(EXPLAIN (VERBOSE, COSTS OFF) $union0)),
	qr/Append\s+->  Async Foreign Scan on public\.docs_1.*Remote SQL: SELECT .* ORDER BY .* LIMIT 10::bigint.*Async Foreign Scan on public\.docs_2/s,
	'the UNION ALL form queries the shards concurrently, each with its LIMIT');
cmp_ok(id_recall($exact, nearest($union)), '>=', 0.95, 'and answers as well');

# A shard that is down: an error that names it, never the other shard's rows alone.
$shards[1]->stop;
my ($ret, $out, $err) = $coord->psql('postgres', "SELECT id FROM docs ORDER BY embedding <-> '$queries[0]' LIMIT 10");
isnt($ret, 0, 'with a shard down the query fails');
like($err, qr/could not connect to server "shard2"/, 'and the error names the shard');
is($out, '', 'and returns no rows');
$shards[1]->start;
cmp_ok(id_recall($exact, nearest("SELECT id FROM docs ORDER BY embedding <-> QUERY LIMIT 10")), '>=', 0.95,
	'the shard back: the same answers');

done_testing();
