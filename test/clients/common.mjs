// Shared by the client tests: the mode, deterministic vectors and embeddings,
// exact (brute-force) search in JS, and the check that an answer is exact.
// Everything is offline: no embedding model, vectors come from a seeded
// generator or from a hash of the text.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Embeddings } from '@langchain/core/embeddings';

// standalone: the database has extension kyrodb (its own vector type).
// companion: pgvector's extension vector plus kyrodb_pgvector.
export const MODE = process.env.MODE || 'standalone';
if (MODE !== 'standalone' && MODE !== 'companion') {
    throw new Error(`MODE must be standalone or companion, not ${MODE}`);
}
// The database comes from the standard PG* variables, which pg reads itself;
// PGDATABASE defaults to the one test.sh creates for the mode.
process.env.PGDATABASE ||= `clients_${MODE}`;

export const DIM = 16;

// mulberry32: a small seeded generator, so every run inserts the same rows.
export function generator(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// Components are float32 values, as the server stores them, so a vector read
// back must equal the one written bit for bit once rounded to float32.
export function randomVector(next, dim = DIM) {
    return Array.from({ length: dim }, () => Math.fround(next() * 2 - 1));
}

// A text's embedding: SHA-256 of it (and of more blocks if dim > 16), read
// as little-endian uint16 and mapped to [-1, 1). Deterministic, offline.
export function hashVector(text, dim = DIM) {
    const bytes = Buffer.alloc(dim * 2);
    for (let block = 0; block * 32 < bytes.length; block++) {
        createHash('sha256').update(`${block}:${text}`).digest().copy(bytes, block * 32);
    }
    return Array.from({ length: dim }, (_, i) => Math.fround(bytes.readUInt16LE(2 * i) / 32768 - 1));
}

export class HashEmbeddings extends Embeddings {
    constructor() {
        super({});
    }
    async embedDocuments(texts) {
        return texts.map((t) => hashVector(t));
    }
    async embedQuery(text) {
        return hashVector(text);
    }
}

// A UUID made from a name, so documents have ids the test knows beforehand.
export function nameUuid(name) {
    const h = createHash('sha256').update(name).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function dot(a, b) {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
}

// The three metrics as pgvector defines them: operator, operator class,
// LangChain's distanceStrategy, and the distance in double precision.
export const METRICS = [
    {
        name: 'l2', op: '<->', opclass: 'vector_l2_ops', strategy: 'euclidean',
        distance: (a, b) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0)),
    },
    {
        name: 'ip', op: '<#>', opclass: 'vector_ip_ops', strategy: 'innerProduct',
        distance: (a, b) => -dot(a, b),
    },
    {
        name: 'cosine', op: '<=>', opclass: 'vector_cosine_ops', strategy: 'cosine',
        distance: (a, b) => 1 - dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b)),
    },
];

// The k nearest rows ({id, vector}) to q, nearest first (ties by id).
export function exactSearch(rows, q, metric, k) {
    return rows
        .map((r) => ({ id: r.id, distance: metric.distance(r.vector, q) }))
        .sort((x, y) => x.distance - y.distance || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
        .slice(0, k);
}

// The server computes distances in float32 arithmetic, JS in double: two rows
// whose distances differ by less than this may come in either order.
const TIE = 1e-5;
const near = (x, y) => Math.abs(x - y) <= TIE * (1 + Math.abs(y));

// Asserts that `got` ([{id, distance}], as the server returned them) is an
// exact answer: the same ids as `exact` rank for rank, except where two
// distances tie within float32 precision; each returned distance is the true
// distance of its row (`truth`: id -> distance); no id twice. Returns whether
// the ids were identical, rank for rank.
export function assertExact(got, exact, truth, label) {
    assert.equal(got.length, exact.length, `${label}: ${got.length} rows, exact search has ${exact.length}`);
    assert.equal(new Set(got.map((g) => g.id)).size, got.length, `${label}: an id came twice`);
    got.forEach((g, i) => {
        const d = truth.get(g.id);
        assert.ok(d !== undefined, `${label}: rank ${i}: id ${g.id} is not a live row`);
        assert.ok(near(g.distance, d), `${label}: rank ${i}: id ${g.id} returned distance ${g.distance}, its distance is ${d}`);
        assert.ok(g.id === exact[i].id || near(d, exact[i].distance),
            `${label}: rank ${i}: got id ${g.id} at distance ${d}, exact search has id ${exact[i].id} at ${exact[i].distance}\n` +
            `  got:   ${got.map((x) => x.id).join(' ')}\n  exact: ${exact.map((x) => x.id).join(' ')}`);
    });
    return got.every((g, i) => g.id === exact[i].id);
}

// The plan of a query as text, from EXPLAIN with the same parameters.
export async function plan(db, text, params = []) {
    const res = await db.query(`EXPLAIN ${text}`, params);
    return res.rows.map((r) => r['QUERY PLAN']).join('\n');
}
