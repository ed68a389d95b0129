# Filter columns: recall against brute force with the same filter at 0.1 %,
# 1 %, 10 % and 50 % selectivity; tenant isolation with thousands of tenants
# while rows are inserted, deleted, vacuumed and flushed; and a standby and
# crash recovery answering filtered queries as the primary did.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use KyroTest;

my $datagen = $ENV{KYRODB_DATAGEN} or die "KYRODB_DATAGEN is not set";
my $node = kyrodb_node('filters', allows_streaming => 1);
$node->safe_psql('postgres', q(
	CREATE TABLE docs (id bigint PRIMARY KEY, v vector(128));
	CREATE TABLE qpool (id bigint PRIMARY KEY, v vector(128));));
copy_from_command($node, 'docs', "$datagen synthetic 100000 128 1");
copy_from_command($node, 'qpool', "$datagen synthetic 30 128 2");
# Selections by a hash of the id (the vectors come in id order). Tenant 0
# holds half the rows, tenants 1..20000 the rest, 1 to 8 rows each.
$node->safe_psql('postgres', q(
	CREATE FUNCTION h(id bigint) RETURNS bigint IMMUTABLE LANGUAGE sql AS 'SELECT (id * 2654435761) % 4294967291';
	ALTER TABLE docs ADD sel01 int, ADD sel1 int, ADD sel10 int, ADD sel50 int, ADD tenant int;
	UPDATE docs SET sel01 = h(id) % 1000, sel1 = h(id) % 100, sel10 = h(id) % 10, sel50 = h(id) % 2,
	                tenant = CASE WHEN h(id + 7) % 2 = 0 THEN 0 ELSE 1 + h(id + 11) % 20000 END;
	VACUUM ANALYZE docs;
	CREATE INDEX docs_idx ON docs USING kyrodb (v, sel01, sel1, sel10, sel50, tenant);));

# Mean recall@10 over the query pool against a sequential scan with the same
# filter; also how many queries returned fewer rows than min(10, matching).
sub recall {
	my ($cond) = @_;
	return split /\|/, $node->safe_psql('postgres', qq(
		SET enable_indexscan = off;
		CREATE TEMP TABLE truth AS
		  SELECT q.id AS qid, ARRAY(SELECT d.id FROM docs d WHERE $cond ORDER BY d.v <-> q.v LIMIT 10) AS ids FROM qpool q;
		RESET enable_indexscan;
		SET enable_seqscan = off;
		SELECT round(avg(CASE WHEN cardinality(t.ids) = 0 THEN 1
		                      ELSE (SELECT count(*) FROM unnest(g.ids) x WHERE x = ANY (t.ids))::numeric / cardinality(t.ids) END), 3),
		       count(*) FILTER (WHERE cardinality(g.ids) <> cardinality(t.ids))
		  FROM truth t JOIN qpool q ON q.id = t.qid
		  JOIN LATERAL (SELECT ARRAY(SELECT d.id FROM docs d WHERE $cond ORDER BY d.v <-> q.v LIMIT 10) AS ids) g ON true;));
}
my $plan = $node->safe_psql('postgres', q(
	SET enable_seqscan = off;
	EXPLAIN (COSTS OFF) SELECT id FROM docs WHERE sel1 = 3 ORDER BY v <-> (SELECT v FROM qpool LIMIT 1) LIMIT 10));
like($plan, qr/Index Cond: \(sel1 = 3\)/, 'the filter is an index condition');
for my $case (['0.1 %', 'sel01 = 3'], ['1 %', 'sel1 = 3'], ['10 %', 'sel10 = 3'], ['50 %', 'sel50 = 1'],
	['10 % by range', 'sel1 BETWEEN 10 AND 19'], ['1 % of two', 'sel10 = 3 AND sel1 >= 50 AND sel1 < 60'])
{
	my ($name, $cond) = @$case;
	my ($r, $short) = recall($cond);
	diag("recall\@10 with $name selective filter ($cond): $r");
	cmp_ok($r, '>=', 0.95, "$name selective: recall\@10 at least 0.95 ($r)");
	is($short, '0', "$name selective: every query returns min(10, matching) rows");
}

# ---- tenants: a tiny tenant's answer is its own rows in exact order; nobody
# sees another tenant's rows. A stream writes to tenants 30001.. meanwhile.
$node->safe_psql('postgres', q(
	CREATE SEQUENCE ids START 100001;
	ALTER TABLE docs ALTER id SET DEFAULT nextval('ids');
	CREATE TABLE tenant_checks (tenant int, own_exact bool, foreign_rows int);
	CREATE FUNCTION check_tenant(t int, q bigint) RETURNS void LANGUAGE plpgsql AS $$
	DECLARE got bigint[]; want bigint[]; qv vector := (SELECT v FROM qpool WHERE id = q);
	BEGIN
	  PERFORM set_config('enable_seqscan', 'off', true);
	  got := ARRAY(SELECT id FROM docs WHERE tenant = t ORDER BY v <-> qv LIMIT 10);
	  PERFORM set_config('enable_seqscan', 'on', true);
	  PERFORM set_config('enable_indexscan', 'off', true);
	  want := ARRAY(SELECT id FROM docs WHERE tenant = t ORDER BY v <-> qv LIMIT 10);
	  INSERT INTO tenant_checks VALUES (t, got = want,
	    (SELECT count(*) FROM docs WHERE id = ANY (got) AND tenant <> t));
	END $$;));
my %scripts = (
	'insert.sql' => "\\set t random(30001, 30100)\n\\set id random(1, 100000)\nINSERT INTO docs (v, tenant, sel01, sel1, sel10, sel50) SELECT v, :t, 0, 0, 0, 0 FROM docs WHERE id = :id;\n",
	'delete.sql' => "\\set t random(30001, 30100)\nDELETE FROM docs WHERE id = (SELECT max(id) FROM docs WHERE tenant = :t);\n",
	'tiny.sql' => "\\set t random(1, 20000)\n\\set q random(1, 30)\nBEGIN ISOLATION LEVEL REPEATABLE READ;\nSELECT check_tenant(:t, :q);\nCOMMIT;\n",
	'stream.sql' => "\\set t random(30001, 30100)\n\\set q random(1, 30)\nSELECT count(*) FROM (SELECT tenant FROM docs WHERE tenant = :t ORDER BY v <-> (SELECT v FROM qpool WHERE id = :q) LIMIT 10) s WHERE tenant <> :t;\n",
	'vacuum.sql' => "VACUUM docs;\n",
	'flush.sql' => "SELECT kyrodb_flush('docs_idx');\n",
);
my @files = pgbench_files(\%scripts, { 'insert.sql' => 40, 'delete.sql' => 10, 'tiny.sql' => 40, 'stream.sql' => 10,
	'vacuum.sql' => 1, 'flush.sql' => 1 });
$node->command_ok(['pgbench', '-n', '-c', '4', '-j', '2', '-T', '20', @files,
	'-h', $node->host, '-p', $node->port, 'postgres'], 'tenant workload finishes without errors');
my ($checks, $not_exact, $foreign) = split /\|/, $node->safe_psql('postgres',
	'SELECT count(*), count(*) FILTER (WHERE NOT own_exact), coalesce(sum(foreign_rows), 0) FROM tenant_checks');
cmp_ok($checks, '>=', 100, "tiny tenants checked during the workload ($checks)");
is($not_exact, '0', "every tiny tenant's answer was its own rows in exact order");
is($foreign, '0', "no tenant's answer held another tenant's row");
is($node->safe_psql('postgres', q(
	SET enable_seqscan = off;
	SELECT count(*) FROM generate_series(30001, 30100) t,
	  LATERAL (SELECT tenant FROM docs WHERE tenant = t ORDER BY v <-> (SELECT v FROM qpool WHERE id = 1 + t % 30) LIMIT 20) s
	 WHERE s.tenant <> t)), '0', "the stream's tenants see only their own rows");
$node->safe_psql('postgres', "SELECT kyrodb_verify_index('docs_idx', true)");
pass('kyrodb_verify_index finds every row with its filter values');

# ---- a standby and crash recovery answer filtered queries as the primary
my $answers = q(
	SET enable_seqscan = off;
	SELECT string_agg(ids, E'\n' ORDER BY c, q) FROM (
	  SELECT c, q, array_to_string(ARRAY(SELECT id FROM docs WHERE
	      CASE c WHEN 1 THEN sel1 = q WHEN 2 THEN tenant = q * 37 WHEN 3 THEN tenant BETWEEN 30001 AND 30000 + q
	             ELSE sel10 = q % 10 AND sel50 = 0 END
	      ORDER BY v <-> (SELECT v FROM qpool WHERE id = q) LIMIT 10), ',') AS ids
	    FROM generate_series(1, 4) c, generate_series(1, 30) q) a);
$node->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('filters_standby');
$standby->init_from_backup($node, 'base', has_streaming => 1);
$standby->start;
$node->safe_psql('postgres', q(
	INSERT INTO docs (v, tenant, sel01, sel1, sel10, sel50) SELECT v, 30001 + id % 100, 1, 1, 1, 0 FROM docs WHERE id <= 3000;
	DELETE FROM docs WHERE tenant BETWEEN 30001 AND 30010 AND id % 2 = 0;
	VACUUM docs;));
$node->wait_for_catchup($standby, 'replay', $node->lsn('insert'));
my $before = $node->safe_psql('postgres', $answers);
is($standby->safe_psql('postgres', $answers), $before, 'the standby answers filtered queries as the primary');
crash_and_restart($node);
is($node->safe_psql('postgres', $answers), $before, 'after a crash the filtered answers are those before it');
$standby->stop;

done_testing();
