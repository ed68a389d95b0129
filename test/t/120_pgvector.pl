# Beside pgvector 0.8.6: kyrodb's library and pgvector's loaded in one server
# in both orders, the companion extension kyrodb_pgvector (the kyrodb index on
# pgvector's own type), the errors when a database asks for both types, the
# notice for pgvector's settings in a kyrodb database, and pg_dump/pg_restore
# moves between the two extensions in both directions.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

plan skip_all => 'pgvector 0.8.6 is not installed (test/scripts/test.sh builds it from ../shared/vendor)'
  unless $ENV{KYRODB_PGVECTOR};

# Database postgres: standalone kyrodb. Database pgv: pgvector with kyrodb_pgvector.
my $node = kyrodb_node('pgvector');
$node->safe_psql('postgres', 'CREATE DATABASE pgv');
$node->safe_psql('pgv', 'CREATE EXTENSION kyrodb_pgvector CASCADE');
is($node->safe_psql('pgv', q(SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension)),
	'kyrodb_pgvector,plpgsql,vector', 'CREATE EXTENSION kyrodb_pgvector CASCADE brings pgvector');
is($node->safe_psql('pgv', q(SELECT probin FROM pg_proc WHERE proname = 'vector_in')), '$libdir/vector',
	"the vector type of the companion database is pgvector's");

# The same 3,000 rows in each database: t has a kyrodb index with a filter
# column, t_cos and t_ip the other operator classes, and (pgvector's
# database) t_hnsw pgvector's own index.
my $rows = q(
	CREATE TABLE %s (id int PRIMARY KEY, v vector(8), cat int);
	INSERT INTO %s SELECT g, (SELECT array_agg(sin(g * 0.37 + j * 1.3) + 0.1 * j) FROM generate_series(1, 8) j)::vector,
	  g %% 10 FROM generate_series(1, 3000) g;);
for my $db ('postgres', 'pgv') {
	$node->safe_psql($db, sprintf($rows, 't', 't') . sprintf($rows, 't_cos', 't_cos') . sprintf($rows, 't_ip', 't_ip')
		. q(CREATE INDEX t_v ON t USING kyrodb (v, cat);
		    CREATE INDEX ON t_cos USING kyrodb (v vector_cosine_ops);
		    CREATE INDEX ON t_ip USING kyrodb (v vector_ip_ops);));
}
$node->safe_psql('pgv', sprintf($rows, 't_hnsw', 't_hnsw')
	. 'CREATE INDEX ON t_hnsw USING hnsw (v vector_l2_ops) WITH (ef_construction = 200);');

# Arithmetic and formats any mix-up between the libraries would change.
my $scalar = q(SELECT '[1,2,3]'::vector <-> '[4,6,3]', '[1,2,3]'::vector <#> '[1,1,1]',
	round(('[1,0]'::vector <=> '[0,1]')::numeric, 6), vector_dims('[1,2,3,4]'::vector),
	('[1,2,3]'::vector + '[1,1,1]')::text, avg(v)::text, l2_normalize('[3,4]'::vector)::text
	FROM (VALUES ('[1,2]'::vector), ('[3,4]')) a(v));
my $expected = '5|-6|1.000000|4|[2,3,4]|[2,3]|[0.6,0.8]';

# The 10 nearest ids of 20 queries, one line per query, by the index or by a
# sequential scan.
sub nearest {
	my ($db, $table, $op, $by_index, $where) = @_;
	$where //= '';
	my $plan = !$by_index ? 'SET enable_indexscan = off; SET enable_bitmapscan = off;'
	  : $table eq 't_hnsw' ? 'SET enable_seqscan = off; SET hnsw.ef_search = 400;'
	  : 'SET enable_seqscan = off; SET kyrodb.ef_search = 400;';
	return $node->safe_psql($db, qq($plan
		SELECT string_agg(ids, E'\\n' ORDER BY q) FROM (
		  SELECT q, array_to_string(ARRAY(SELECT id FROM $table $where ORDER BY v $op (
		      SELECT array_agg(cos(q * 1.1 + j))::vector FROM generate_series(1, 8) j) LIMIT 10), ',') AS ids
		    FROM generate_series(1, 20) q) a));
}

sub check_both {
	my ($order) = @_;
	is($node->safe_psql('pgv', "SELECT kyrodb_simd() IS NOT NULL; $scalar"), "t\n$expected",
		"$order: pgvector's functions beside kyrodb's library in one backend");
	is($node->safe_psql('postgres', $scalar), $expected, "$order: kyrodb's functions");
	for my $db ('postgres', 'pgv') {
		is(nearest($db, 't', '<->', 1), nearest($db, 't', '<->', 0),
			"$order, $db: the kyrodb index answers <-> as a sequential scan");
		is(nearest($db, 't', '<->', 1, 'WHERE cat = 3'), nearest($db, 't', '<->', 0, 'WHERE cat = 3'),
			"$order, $db: and with a filter column");
		# float4 kernels against pgvector's double sums can swap near-ties: recall
		cmp_ok(id_recall(nearest($db, 't_cos', '<=>', 0), nearest($db, 't_cos', '<=>', 1)), '>=', 0.99,
			"$order, $db: <=> through the kyrodb index");
		cmp_ok(id_recall(nearest($db, 't_ip', '<#>', 0), nearest($db, 't_ip', '<#>', 1)), '>=', 0.99,
			"$order, $db: <#> through the kyrodb index");
	}
	is(nearest('pgv', 't_hnsw', '<->', 1), nearest('pgv', 't_hnsw', '<->', 0),
		"$order: pgvector's hnsw index beside it answers as a sequential scan");
	like($node->safe_psql('pgv', q(SET enable_seqscan = off;
		EXPLAIN (COSTS OFF) SELECT id FROM t WHERE cat = 3 ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 5)),
		qr/Index Scan using t_v on t\n\s+Index Cond: \(cat = 3\)/, "$order: the companion plan uses the kyrodb index");
}

check_both('kyrodb preloaded, pgvector loaded on use');

# A database holds one of the two types; each way round the error says which to use.
my ($ret, $out, $err) = $node->psql('pgv', 'CREATE EXTENSION kyrodb');
like($err, qr/extension "kyrodb" cannot be installed where extension "vector" is.*HINT:  Use CREATE EXTENSION kyrodb_pgvector/s,
	'CREATE EXTENSION kyrodb beside pgvector names kyrodb_pgvector');
for my $ext ('vector', 'kyrodb_pgvector CASCADE') {
	($ret, $out, $err) = $node->psql('postgres', "CREATE EXTENSION $ext");
	like($err, qr/extension "\w+" cannot be installed where extension "kyrodb" is.*HINT:  Keep using extension kyrodb/s,
		"CREATE EXTENSION $ext in a kyrodb database says to keep kyrodb");
}
($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION IF NOT EXISTS kyrodb');
is($ret, 0, 'CREATE EXTENSION IF NOT EXISTS kyrodb stays a no-op');
# What frameworks run to make sure the type exists: kyrodb's is there.
($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION IF NOT EXISTS vector');
is($ret, 0, 'CREATE EXTENSION IF NOT EXISTS vector in a kyrodb database succeeds');
like($err, qr/NOTICE:  extension "kyrodb" provides type vector in this database, skipping/, 'with a notice');
is($node->safe_psql('postgres', q(SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension)),
	'kyrodb,plpgsql', 'and installs nothing');
($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION IF NOT EXISTS kyrodb_pgvector CASCADE');
like($err, qr/extension "kyrodb_pgvector" cannot be installed where extension "kyrodb" is/,
	'CREATE EXTENSION IF NOT EXISTS kyrodb_pgvector there still fails');

# pgvector's settings set in a kyrodb database: one notice per setting and session.
($ret, $out, $err) = $node->psql('postgres', q(SET hnsw.ef_search = 100; SET kyrodb.ef_search = 100;
	SELECT id FROM t ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 1;
	SELECT id FROM t ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 1;));
my @notices = $err =~ /NOTICE:  hnsw.ef_search has no effect on kyrodb indexes/g;
is(scalar @notices, 1, 'hnsw.ef_search in a kyrodb database: one notice');
like($err, qr/HINT:  Set kyrodb.ef_search instead/, 'that names kyrodb.ef_search');

$node->append_conf('postgresql.conf', "shared_preload_libraries = 'vector, kyrodb'");
$node->restart;
check_both('pgvector loaded first, then kyrodb');
($ret, $out, $err) = $node->psql('pgv', q(SET hnsw.ef_search = 100;
	SELECT id FROM t ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 1;));
unlike($err, qr/NOTICE/, "pgvector's own hnsw.ef_search: no notice");

# Moving a database between the two with pg_dump and pg_restore, as the
# README says: restore everything but the other extension and the other
# extension's indexes, then create the indexes of the one restored into.
my $dump = $node->basedir . '/move.dump';
my $bin = $node->config_data('--bindir');
sub move {
	my ($from, $to, $extension, $skip_am) = @_;
	$node->safe_psql('postgres', "DROP DATABASE IF EXISTS $to; CREATE DATABASE $to");
	$node->safe_psql($to, "CREATE EXTENSION $extension");
	$node->command_ok([ "$bin/pg_dump", '-Fc', '-d', $node->connstr($from), '-f', $dump ], "pg_dump $from");
	my $skip = $node->safe_psql($from, qq(SELECT string_agg(c.relname, '|') FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE a.amname ~ '^($skip_am)\$'));
	my $list = `$bin/pg_restore -l $dump`;
	my @keep = grep { !/ EXTENSION (- )?(vector|kyrodb|kyrodb_pgvector) / && !/ INDEX public ($skip) / } split /\n/, $list;
	my $listfile = $node->basedir . '/move.list';
	open(my $fh, '>', $listfile) or die; print $fh join("\n", @keep), "\n"; close $fh;
	$node->command_ok([ "$bin/pg_restore", '--exit-on-error', '-L', $listfile, '-d', $node->connstr($to), $dump ],
		"pg_restore $from into $to ($extension)");
}
$node->safe_psql('pgv', 'DROP INDEX t_v; CREATE INDEX t_h ON t USING hnsw (v vector_l2_ops)');
move('pgv', 'to_kyrodb', 'kyrodb', 'hnsw|ivfflat');
$node->safe_psql('to_kyrodb', 'CREATE INDEX ON t USING kyrodb (v, cat)');
is(nearest('to_kyrodb', 't', '<->', 1, 'WHERE cat = 3'), nearest('pgv', 't', '<->', 0, 'WHERE cat = 3'),
	'pgvector database moved to standalone kyrodb: the kyrodb index answers as pgvector\'s sequential scan');
is($node->safe_psql('to_kyrodb', 'SELECT count(*), sum(vector_dims(v)) FROM t'), '3000|24000', 'every row moved');
move('to_kyrodb', 'back', 'vector', 'kyrodb');
is(nearest('back', 't', '<->', 0), nearest('to_kyrodb', 't', '<->', 0), 'and back to pgvector: the same rows');
$node->safe_psql('back', 'CREATE EXTENSION kyrodb_pgvector; CREATE INDEX ON t USING kyrodb (v)');
is(nearest('back', 't', '<->', 1), nearest('back', 't', '<->', 0),
	'kyrodb_pgvector on the moved-back database: its index answers as a sequential scan');

# A companion database dumps and restores whole, kyrodb indexes included.
$node->safe_psql('pgv', 'CREATE INDEX t_v ON t USING kyrodb (v, cat)');
$node->safe_psql('postgres', 'CREATE DATABASE pgv_copy');
$node->command_ok([ "$bin/pg_dump", '-Fc', '-d', $node->connstr('pgv'), '-f', $dump ], 'pg_dump of a companion database');
$node->command_ok([ "$bin/pg_restore", '--exit-on-error', '-d', $node->connstr('pgv_copy'), $dump ], 'pg_restore of it');
is(nearest('pgv_copy', 't', '<->', 1, 'WHERE cat = 3'), nearest('pgv', 't', '<->', 0, 'WHERE cat = 3'),
	'the restored kyrodb index answers as a sequential scan');

done_testing();
