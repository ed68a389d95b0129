// LangChain JS's PGVectorStore (@langchain/community) against kyrodb, end to
// end: the store's own table, documents with metadata added through it, a
// kyrodb index on its table, similarity search with and without metadata
// filters, delete by ids; every answer checked against exact search in JS,
// every search's SQL (as the store sent it) checked to use the kyrodb index.
//
// Standalone mode (extension kyrodb, no pgvector): the store is told to skip
// its DDL (skipInitializationCheck), since it would run CREATE EXTENSION IF
// NOT EXISTS vector, and its table is created with the store's own DDL.
// Companion mode (pgvector's vector + kyrodb_pgvector): the store runs
// unchanged. Both modes also run the store's initialize unchanged once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PGVectorStore } from '@langchain/community/vectorstores/pgvector';
import { Document } from '@langchain/core/documents';
import {
    MODE, DIM, METRICS, HashEmbeddings, hashVector, nameUuid, exactSearch, assertExact, plan,
} from './common.mjs';

const DOCS = 1000;     // documents in the store
const INDEXED = 800;   // of which added before CREATE INDEX (the rest: hot tier)
const DELETED = 100;
const K = 10;
const embeddings = new HashEmbeddings();
const KYRODB_NOTICE = /extension "kyrodb" provides type vector/;

// A pool whose connections record the server's notices, and which records
// the last query the store sent through it (to EXPLAIN it).
function recordingPool() {
    const pool = new pg.Pool({ max: 3 });
    pool.notices = [];
    pool.on('connect', (client) => client.on('notice', (n) => pool.notices.push(n.message)));
    const query = pool.query.bind(pool);
    pool.query = (text, params, ...rest) => {
        if (typeof text === 'string') pool.last = { text, params };
        return query(text, params, ...rest);
    };
    return pool;
}

// The table PGVectorStore.ensureTableInDatabase creates (same columns, types
// and defaults), for standalone mode where the store's DDL is skipped.
function storeTableDdl(table, dimensions) {
    return `CREATE TABLE IF NOT EXISTS ${table} (
        "id" uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
        "text" text,
        "metadata" jsonb,
        "embedding" vector(${dimensions})
    )`;
}

// The store as each mode sets it up (see the top of the file).
async function openStore(pool, table, metric) {
    const config = { pool, tableName: table, distanceStrategy: metric.strategy, dimensions: DIM };
    if (MODE === 'standalone') {
        await pool.query(storeTableDdl(table, DIM));
        return PGVectorStore.initialize(embeddings, { ...config, skipInitializationCheck: true });
    }
    return PGVectorStore.initialize(embeddings, config);
}

test(`PGVectorStore.initialize unchanged (${MODE}): its CREATE EXTENSION IF NOT EXISTS vector passes`, async () => {
    const pool = recordingPool();
    const table = 'lc_unchanged';
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    const store = await PGVectorStore.initialize(embeddings, { pool, tableName: table, dimensions: DIM });
    try {
        const ext = (await pool.query('SELECT extname FROM pg_extension')).rows.map((r) => r.extname);
        if (MODE === 'standalone') {
            // kyrodb (preloaded) turns the statement into a no-op with a notice
            assert.ok(pool.notices.some((m) => KYRODB_NOTICE.test(m)), `notices: ${pool.notices}`);
            assert.ok(!ext.includes('vector'), `extensions: ${ext}`);
        } else {
            assert.ok(!pool.notices.some((m) => KYRODB_NOTICE.test(m)), `notices: ${pool.notices}`);
            assert.ok(ext.includes('vector') && ext.includes('kyrodb_pgvector'), `extensions: ${ext}`);
        }
        const type = await pool.query(
            `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = '${table}'::regclass AND attname = 'embedding'`);
        assert.equal(type.rows[0].t, `vector(${DIM})`);
        await store.addDocuments([
            new Document({ pageContent: 'alpha', metadata: { n: 1 } }),
            new Document({ pageContent: 'beta', metadata: { n: 2 } }),
        ]);
        const found = await store.similaritySearch('beta', 1);
        assert.equal(found[0].pageContent, 'beta');
    } finally {
        await store.end();
    }
});

// The metadata filters searched, each with the same condition in JS.
const FILTERS = [
    { name: 'no filter', filter: undefined, keep: () => true },
    { name: "category = 'c3'", filter: { category: 'c3' }, keep: (m) => m.category === 'c3' },
    { name: "category in ('c1', 'c7')", filter: { category: { in: ['c1', 'c7'] } }, keep: (m) => ['c1', 'c7'].includes(m.category) },
    { name: 'n >= 900', filter: { n: { gte: 900 } }, keep: (m) => m.n >= 900 },
];

for (const metric of METRICS) {
    test(`PGVectorStore (${MODE}), distanceStrategy ${metric.strategy}: ${DOCS} documents, kyrodb index, search, filters, delete`, async (t) => {
        const pool = recordingPool();
        const table = `lc_docs_${metric.name}`;
        const index = `${table}_kyrodb`;
        await pool.query(`DROP TABLE IF EXISTS ${table}`);
        const store = await openStore(pool, table, metric);
        try {
            if (MODE === 'standalone') {
                assert.ok(!pool.notices.some((m) => KYRODB_NOTICE.test(m)), 'the store ran CREATE EXTENSION vector');
            }
            const docs = Array.from({ length: DOCS }, (_, n) => new Document({
                pageContent: `document ${n} of the ${metric.name} store`,
                metadata: { category: `c${n % 10}`, n },
            }));
            const ids = docs.map((_, n) => nameUuid(`${table}/${n}`));
            await store.addDocuments(docs.slice(0, INDEXED), { ids: ids.slice(0, INDEXED) });
            await pool.query(`CREATE INDEX ${index} ON ${table} USING kyrodb (embedding ${metric.opclass}, ((metadata->>'category')))`);
            await store.addDocuments(docs.slice(INDEXED), { ids: ids.slice(INDEXED) });
            await pool.query(`ANALYZE ${table}`);
            assert.equal((await pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n, DOCS);

            const live = new Map(docs.map((d, n) => [ids[n], { id: ids[n], vector: hashVector(d.pageContent), doc: d }]));
            let searches = 0;
            let identical = 0;
            const search = async (queryText, f) => {
                const q = hashVector(queryText);
                const label = `"${queryText}", ${f.name}`;
                const results = await store.similaritySearchWithScore(queryText, K, f.filter);
                const sent = pool.last;
                assert.match(sent.text, /ORDER BY "_distance" ASC/);
                const p = await plan(pool, sent.text, sent.params);
                assert.match(p, new RegExp(`Index Scan using ${index}`), `${label}: not the kyrodb index:\n${p}`);
                if (f.filter?.category && typeof f.filter.category === 'string') {
                    assert.match(p, /Index Cond: \(\(metadata ->> 'category'::text\) = /, `${label}:\n${p}`);
                }
                for (const [doc] of results) {
                    const want = live.get(doc.id)?.doc;
                    assert.ok(want, `${label}: id ${doc.id} is not a live document`);
                    assert.equal(doc.pageContent, want.pageContent);
                    assert.deepEqual(doc.metadata, want.metadata);
                }
                const got = results.map(([doc, score]) => ({ id: doc.id, distance: score }));
                const rows = [...live.values()].filter((r) => f.keep(r.doc.metadata));
                const truth = new Map(rows.map((r) => [r.id, metric.distance(r.vector, q)]));
                searches++;
                if (assertExact(got, exactSearch(rows, q, metric, K), truth, label)) identical++;
                return got;
            };

            const queries = Array.from({ length: 10 }, (_, i) => `question ${i} about ${metric.name}`);
            const before = [];
            for (const queryText of queries) {
                for (const f of FILTERS) {
                    const got = await search(queryText, f);
                    if (f.filter === undefined) before.push(...got.map((g) => g.id));
                }
            }

            // delete the best answers of the first queries and more: they
            // must be gone, and the answers exact among the rest
            const doomed = [...new Set([...before.slice(0, 40), ...ids.filter((_, n) => n % 17 === 0)])].slice(0, DELETED);
            await store.delete({ ids: doomed });
            for (const id of doomed) live.delete(id);
            assert.equal((await pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n, DOCS - doomed.length);
            for (const queryText of queries) {
                for (const f of FILTERS) {
                    const got = await search(queryText, f);
                    assert.ok(!got.some((g) => doomed.includes(g.id)), 'a deleted document was returned');
                }
            }
            const check = await pool.query('SELECT kyrodb_verify_index($1::regclass, true)', [index]);
            assert.equal(check.rowCount, 1);
            t.diagnostic(`${identical} of ${searches} answers rank for rank identical to exact search in JS`);
        } finally {
            await store.end();
        }
    });
}
