# The result cache across restarts and crashes, and the index without it:
# kyrodb.cache_size = 0, a cache too small for one result, no preload. In
# every case the answers are the exact ones (a beam of a tenth of the index,
# still searched with HNSW so that results are cached), or for the wide
# index those the index gives with the cache off.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

my $node = kyrodb_node('cache');
$node->safe_psql('postgres', q(
	CREATE TABLE items (id int PRIMARY KEY, v vector(16));
	INSERT INTO items SELECT g, (SELECT array_agg(sin(g * 0.37 + j * 1.3) + cos(g * 0.011 * j)) FROM generate_series(1, 16) j)::vector
	  FROM generate_series(1, 3000) g;
	CREATE INDEX items_idx ON items USING kyrodb (v);
	CREATE TABLE wide (id int PRIMARY KEY, v vector(2100));
	INSERT INTO wide SELECT g, (SELECT array_agg(sin(g * 0.1 + j)) FROM generate_series(1, 2100) j)::vector
	  FROM generate_series(1, 3000) g;
	CREATE INDEX wide_idx ON wide USING kyrodb (v);));

# 30 queries' ids, by the index (with the cache on or off) or by a
# sequential scan.
sub answers {
	my ($table, $dim, $by_index, $cache) = @_;
	$cache //= 'on';
	my $plan = $by_index ? "SET enable_seqscan = off; SET enable_sort = off; SET kyrodb.ef_search = 300;
	                        SET kyrodb.cache = $cache;"
	                     : 'SET enable_indexscan = off;';
	return $node->safe_psql('postgres', qq($plan
		SELECT string_agg(ids, E'\\n' ORDER BY q) FROM (
		  SELECT q, array_to_string(ARRAY(SELECT id FROM $table ORDER BY v <-> (
		      SELECT array_agg(cos(q * 1.1 + j))::vector FROM generate_series(1, $dim) j) LIMIT 10), ',') AS ids
		    FROM generate_series(1, 30) q) a));
}
my $exact = answers('items', 16, 0);
my $exact_wide = answers('wide', 2100, 1, 'off');
sub totals {
	return $node->safe_psql('postgres', 'SELECT entries, hits FROM kyrodb_cache_stats() WHERE index IS NULL');
}

is(answers('items', 16, 1), $exact, 'first answers (misses) are exact');
is(answers('items', 16, 1), $exact, 'second answers (hits) are exact');
like(totals(), qr/^30\|30$/, '30 entries, 30 hits');

$node->restart;
is(totals(), '0|0', 'after a restart the cache is empty');
is(answers('items', 16, 1), $exact, 'after a restart the first answers are exact');
crash_and_restart($node);
is(totals(), '0|0', 'after a crash the cache is empty');
is(answers('items', 16, 1), $exact, 'after a crash the first answers are exact');
is(answers('items', 16, 1), $exact, 'and so are the hits after it');

# A background flush searches again, for the hottest entries, the segments
# it added or merged, before the queries come back: they hit at once, and
# are still exact.
$node->safe_psql('postgres', q(ALTER SYSTEM SET kyrodb.flush_threshold = 500; SELECT pg_reload_conf();));
$node->safe_psql('postgres', q(
	INSERT INTO items SELECT g, (SELECT array_agg(sin(g * 0.37 + j * 1.3) + cos(g * 0.011 * j)) FROM generate_series(1, 16) j)::vector
	  FROM generate_series(3001, 6000) g;));
ok($node->poll_query_until('postgres', q(
	SELECT hot_rows < 500 FROM kyrodb_index_stats('items_idx'))), 'the background flush ran');
ok($node->poll_query_until('postgres', q(
	SELECT proactive_refreshes > 0 FROM kyrodb_cache_stats() WHERE index = 'items_idx'::regclass)),
	'the flush worker refreshed entries');
$exact = answers('items', 16, 0);
is(answers('items', 16, 1), $exact, 'answers after the refresh are exact');
$node->safe_psql('postgres', q(ALTER SYSTEM RESET kyrodb.flush_threshold; SELECT pg_reload_conf();));

# A cache too small for one result of the wide index (8.4 kB of query alone):
# those queries are searched every time, and the log says why, once.
$node->append_conf('postgresql.conf', "kyrodb.cache_size = '8kB'");
$node->restart;
my $offset = -s $node->logfile;
is(answers('wide', 2100, 1), $exact_wide, 'a cache too small for one result: exact answers');
is(answers('wide', 2100, 1), $exact_wide, 'and again');
is(answers('items', 16, 1), $exact, 'results that fit are still cached');
is($node->safe_psql('postgres', 'SELECT entries > 0 FROM kyrodb_cache_stats() WHERE index IS NULL'), 't',
	'the small cache holds results of the narrow index');
my $log = slurp_file($node->logfile, $offset);
my @told = $log =~ /result cache is too small for one result of index "wide_idx"/g;
is(scalar @told, 1, 'the log says once that a result does not fit');

# kyrodb.cache_size = 0: no cache, exact answers, said once at start.
$node->append_conf('postgresql.conf', 'kyrodb.cache_size = 0');
$offset = -s $node->logfile;
$node->restart;
is(answers('items', 16, 1), $exact, 'kyrodb.cache_size = 0: exact answers');
is($node->safe_psql('postgres', 'SELECT count(*) FROM kyrodb_cache_stats()'), '0', 'no cache statistics');
is($node->safe_psql('postgres', 'SELECT cache_state FROM kyrodb_memory()'), 'disabled', 'kyrodb_memory: disabled');
$log = slurp_file($node->logfile, $offset);
like($log, qr/no result cache \(kyrodb.cache_size is 0\)/, 'the log says why there is no cache');

# Without preload: the index works without the cache, and each connection
# says once why.
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$offset = -s $node->logfile;
$node->restart;
is(answers('items', 16, 1), $exact, 'without preload: exact answers');
is($node->safe_psql('postgres', 'SELECT cache_state FROM kyrodb_memory()'), 'not preloaded',
	'kyrodb_memory: not preloaded');
$log = slurp_file($node->logfile, $offset);
@told = $log =~ /kyrodb index scans run without the result cache/g;
is(scalar @told, 1, 'one connection says once why it has no cache');
like($log, qr/kyrodb is not in shared_preload_libraries/, 'and why');

done_testing();
