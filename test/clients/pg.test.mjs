// node-postgres (pg) with pgvector-node against kyrodb: the vector type
// registered with registerTypes, rows written with toSql as query
// parameters, read back with its parser, and ORDER BY distance answered by a
// kyrodb index, checked against exact search in JS and against the same query
// without the index.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import pgvector from 'pgvector/pg';
import { MODE, DIM, METRICS, generator, randomVector, exactSearch, assertExact, plan } from './common.mjs';

const ROWS = 1000;   // inserted before CREATE INDEX: the index's segment
const LATER = 100;   // inserted after it: the index's hot tier
const QUERIES = 20;
const K = 10;

let db;
before(async () => {
    db = new pg.Client();
    await db.connect();
    await pgvector.registerTypes(db);
});
after(async () => {
    await db?.end();
});

test(`the database is set up for ${MODE} mode`, async () => {
    const { rows } = await db.query('SELECT extname FROM pg_extension');
    const names = rows.map((r) => r.extname);
    if (MODE === 'standalone') {
        assert.ok(names.includes('kyrodb'), `extensions: ${names}`);
        assert.ok(!names.includes('vector'), `extensions: ${names}`);
    } else {
        assert.ok(names.includes('vector'), `extensions: ${names}`);
        assert.ok(names.includes('kyrodb_pgvector'), `extensions: ${names}`);
        assert.ok(!names.includes('kyrodb'), `extensions: ${names}`);
    }
    const am = await db.query("SELECT amname FROM pg_am WHERE amname = 'kyrodb'");
    assert.equal(am.rowCount, 1);
});

test('registerTypes: vector values come back as arrays, NULL as null', async () => {
    const { rows } = await db.query('SELECT $1::vector AS v, NULL::vector AS n, $2::vector(3) AS w',
        [pgvector.toSql([1, -2.5, 0.003]), pgvector.toSql([0, 1e-7, -3.4e38])]);
    assert.deepEqual(rows[0].v, [1, -2.5, 0.003]);
    assert.equal(rows[0].n, null);
    assert.deepEqual(rows[0].w.map(Math.fround), [0, Math.fround(1e-7), Math.fround(-3.4e38)]);
});

// Inserts rows with toSql parameters, one statement a row, into `table`;
// returns them as {id, vector, ...extra(id)}.
async function insertRows(table, next, first, count, extra = () => ({})) {
    const rows = [];
    const columns = Object.keys(extra(first));
    const names = ['id', 'embedding', ...columns].join(', ');
    const marks = ['$1', '$2', ...columns.map((_, i) => `$${i + 3}`)].join(', ');
    await db.query('BEGIN');
    for (let id = first; id < first + count; id++) {
        const row = { id, vector: randomVector(next), ...extra(id) };
        rows.push(row);
        await db.query(`INSERT INTO ${table} (${names}) VALUES (${marks})`,
            [id, pgvector.toSql(row.vector), ...columns.map((c) => row[c])]);
    }
    await db.query('COMMIT');
    return rows;
}

// Runs `sql` without index scans (a sequential scan and sort: exact).
async function withoutIndex(sql, params) {
    await db.query('BEGIN');
    try {
        await db.query('SET LOCAL enable_indexscan = off');
        await db.query('SET LOCAL enable_bitmapscan = off');
        assert.doesNotMatch(await plan(db, sql, params), /Index Scan/);
        return (await db.query(sql, params)).rows;
    } finally {
        await db.query('COMMIT');
    }
}

// Checks one answer of the index: exact against JS, the same rows and
// distances as without the index, vectors parsed back as inserted.
async function checkAnswer(sql, params, live, q, metric, label) {
    const res = await db.query(sql, params);
    const got = res.rows.map((r) => ({ id: r.id, distance: r.distance }));
    const byId = new Map(live.map((r) => [r.id, r.vector]));
    for (const r of res.rows) {
        assert.ok(Array.isArray(r.embedding), `${label}: embedding parsed to ${typeof r.embedding}`);
        assert.deepEqual(r.embedding.map(Math.fround), byId.get(r.id), `${label}: id ${r.id} read back differs`);
    }
    const truth = new Map(live.map((r) => [r.id, metric.distance(r.vector, q)]));
    const identical = assertExact(got, exactSearch(live, q, metric, K), truth, label);
    const seq = await withoutIndex(sql, params);
    assert.deepEqual(got.map((g) => g.distance), seq.map((r) => r.distance), `${label}: distances differ without the index`);
    got.forEach((g, i) => {
        if (g.id !== seq[i].id) {
            assert.equal(g.distance, seq[i].distance, `${label}: rank ${i}: id ${g.id}, without the index ${seq[i].id}`);
        }
    });
    return identical;
}

for (const metric of METRICS) {
    test(`pg + pgvector: ${ROWS} rows, kyrodb index ${metric.opclass}, ORDER BY embedding ${metric.op} $1 LIMIT ${K}`, async (t) => {
        const table = `pg_items_${metric.name}`;
        const next = generator(1000 + METRICS.indexOf(metric));
        await db.query(`DROP TABLE IF EXISTS ${table}`);
        await db.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, embedding vector(${DIM}))`);
        const live = await insertRows(table, next, 1, ROWS);
        await db.query(`CREATE INDEX ${table}_idx ON ${table} USING kyrodb (embedding ${metric.opclass})`);
        live.push(...await insertRows(table, next, ROWS + 1, LATER));
        await db.query(`ANALYZE ${table}`);

        const sql = `SELECT id, embedding, embedding ${metric.op} $1 AS distance FROM ${table} ORDER BY embedding ${metric.op} $1 LIMIT ${K}`;
        let identical = 0;
        for (let i = 0; i < QUERIES; i++) {
            const q = randomVector(next);
            const params = [pgvector.toSql(q)];
            assert.match(await plan(db, sql, params), new RegExp(`Index Scan using ${table}_idx`));
            if (await checkAnswer(sql, params, live, q, metric, `${metric.name} query ${i}`)) identical++;
        }
        t.diagnostic(`${identical} of ${QUERIES} answers rank for rank identical to exact search in JS`);
    });
}

test(`pg + pgvector: filter column, USING kyrodb (embedding, category), WHERE category = $2`, async (t) => {
    const table = 'pg_items_filtered';
    const metric = METRICS[0];
    const next = generator(2000);
    const category = (id) => ({ category: id % 20 });
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, category integer, embedding vector(${DIM}))`);
    const live = await insertRows(table, next, 1, ROWS, category);
    await db.query(`CREATE INDEX ${table}_idx ON ${table} USING kyrodb (embedding, category)`);
    live.push(...await insertRows(table, next, ROWS + 1, LATER, category));
    await db.query(`ANALYZE ${table}`);

    const sql = `SELECT id, embedding, embedding <-> $1 AS distance FROM ${table} WHERE category = $2 ORDER BY embedding <-> $1 LIMIT ${K}`;
    let identical = 0;
    for (let i = 0; i < QUERIES; i++) {
        const q = randomVector(next);
        const c = i % 20;
        const params = [pgvector.toSql(q), c];
        const p = await plan(db, sql, params);
        assert.match(p, new RegExp(`Index Scan using ${table}_idx`));
        assert.match(p, /Index Cond: \(category = /);
        const rows = live.filter((r) => r.category === c);
        if (await checkAnswer(sql, params, rows, q, metric, `category ${c} query ${i}`)) identical++;
    }
    t.diagnostic(`${identical} of ${QUERIES} answers rank for rank identical to exact search in JS`);
});
