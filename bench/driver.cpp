// SQL-level benchmark of the kyrodb index over libpq, the way ann-benchmarks measures: recall@10
// against exact answers, throughput and tail latency, with Postgres and hnswlib as baselines.
//
//   kyrodb_driver --conn CONNINFO [--dataset synthetic|fashion|minilm] [--n N] [--queries Q]
//                 [--phases load,build,search,filtered,hybrid,zipf,cache,insert,merge,hot,copyload,grow] [--data DIR (.data)]
//                 [--dim D (synthetic only, 128)] [--build-mem MEM (maintenance_work_mem of every build, 2GB)]
//                 [--quantization none|sq8 (index option of every index built, none)]
//
// stdout: one JSON object per figure, always with these keys, in this order:
//   {"dataset","n","dim","metric","phase","system","ef_search" (int or null),"connections","figure","value"}
// stderr: progress and a short summary per phase.
//
// Phase     system (figures)
// load      kyrodb-copy, kyrodb-text-copy (rows_per_s): binary / text COPY of the base rows into the
//           table (primary key, no kyrodb index yet)
// build     kyrodb (seconds, bytes, segments, peak_anon_bytes: the building backend's private memory,
//           sampled every 0.1 s), kyrodb-pool (bytes of shared memory the images take), kyrodb-image-load (mb_per_s: kyrodb_prewarm loading the images into
//           the shared pool from shared buffers, timed by the pool), kyrodb-prewarm (seconds)
// search    kyrodb per ef_search (recall@10, qps, p50_ms, p95_ms, p99_ms with 1 connection; qps, p50_ms,
//           p99_ms with 2),
//           postgres-exact (recall@10, qps, p50_ms, p99_ms: seq scan + sort, first 50 queries),
//           postgres-floor (qps, p50_ms, p99_ms: primary-key lookup of a random id),
//           hnswlib per ef_search (recall@10, qps: in process, 1 thread), hnswlib (seconds: build, 2 threads)
// filtered  kyrodb-filter-1pct, kyrodb-filter-10pct at ef_search 40 (recall@10, rows_returned, p50_ms,
//           p99_ms, qps)
// hybrid    kyrodb-executor-filter-<sel> at ef_search 40 and kyrodb-index-filter-<sel> at 40 and 80 (recall@10,
//           rows_returned, qps, p50_ms, p99_ms), sel = 0.1pct (sel01 = h(id) % 1000), 1pct (category),
//           10pct (category10), 50pct (category < 50), 100pct, 1pct-two (category10 and sel01 < 100):
//           the executor filtering above items_idx, then an index with those filter columns
//           (kyrodb-index-filter: build_seconds, bytes), built for the phase and dropped after it
// zipf      kyrodb at ef_search 40 (recall@10, qps, p50_ms, p99_ms): 20,000 queries, Zipf(1.1) over the pool
// cache     kyrodb-cache-off, kyrodb-cache-on, kyrodb-cache-on-inserts at ef_search 40 (hit_rate, recall@10, qps,
//           p50_ms, p99_ms, hit_p50_ms, hit_p99_ms, miss_p50_ms, miss_p99_ms; insert_rows_s): the result cache,
//           20,000 requests Zipf(1.1) over 10,000 distinct queries with kyrodb.cache off, on, and on beside
//           1,000 single-row INSERTs a second on another connection (synthetic only; skipped, with a
//           message, by a server without the cache)
// insert    kyrodb-insert (rows_per_s: 25,000 single-row INSERTs, 1,000 per transaction, each awaited),
//           kyrodb-insert-pipelined (rows_per_s: 25,000 more, each transaction's statements sent in one libpq
//           pipeline), kyrodb-copy (rows_per_s: 50,000 rows by binary COPY), noindex-insert,
//           noindex-insert-pipelined and noindex-copy (rows_per_s: the same INSERTs and COPY into a table with the same rows and primary key but no kyrodb index, measured
//           once the background flushes the inserts started have ended), then kyrodb at ef_search 40 over the
//           enlarged table (recall@10, qps, p50_ms, p99_ms)
// hot       kyrodb-hot-0pct, -25pct, -50pct, -100pct at ef_search 40 (recall@10, qps, p50_ms, p99_ms):
//           queries with the hot tier filled to that share of kyrodb.flush_threshold by COPY
// copyload  kyrodb-idle, kyrodb-during-copy at ef_search 40 (qps, p50_ms, p99_ms; beside the COPY also p90_ms,
//           p999_ms, max_ms; recall@10 idle), kyrodb-copy
//           (rows_per_s): queries on one connection while another COPYs 500,000 rows, and just before;
//           kyrodb-after-copy (flushed_s: until the hot tier is under the flush threshold; settled_s: until
//           the last flush or merge)
// grow      kyrodb-grown-10pct/50pct/100pct and kyrodb-fresh-* per ef_search 10..160 (recall@10, qps and
//           p99_ms, each the median of five sweeps), and qps_at_recall_095_vs_fresh: the index grown
//           by that share of rows in 1,000-row COPY batches (then kyrodb_flush) against one built
//           afresh over the same rows
// merge     kyrodb-before / kyrodb-during (qps, p50_ms, p99_ms at ef_search 40): the insert phase's rows
//           deleted (half a segment), queries just before and while VACUUM tombstones them and rewrites
//           that segment; kyrodb-vacuum (seconds); kyrodb-after (recall@10 over the rows left, qps, p99_ms)
//
// Data sets (ids 1..n): synthetic = `datagen synthetic N DIM 1` (base, --n, default 100,000) and seed 2
// (1,000 queries; the cache phase draws 10,000 of it, the same 1,000 first), L2; fashion = fashion-mnist
// train (60,000, or --n) and the first 1,000 of t10k, L2; minilm = DIR/minilm-384/embeddings.bin (778,
// from bench/datasets.sh minilm), queries = documents 1, 8, 15, ... (100), cosine. Exact top 100 per
// query cached in DIR/truth/<dataset>-<n>-<metric>.bin.
// Table: items (id int PRIMARY KEY, category int = id % 100, category10 int = id % 10, embedding vector(DIM)),
// autovacuum off. Phases after load check that items holds this run's rows (the base rows, or those and
// the insert phase's 100,000), and say which phase to run first if not; merge deletes some of the latter.
// Recall counts a returned row when it is no farther than the 10th true neighbour (ann-benchmarks' rule).
#include "driver_data.h"  // first: it includes <random> its own way

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <functional>
#include <memory>

// hnswlib 0.6.2 defines functions with external linkage in its headers, which would clash with the
// copy inside hnsw_build.o: its dependencies first, then hnswlib inside an anonymous namespace (as
// bench/hnsw_bench.cpp does).
#include <x86intrin.h>
#include <cpuid.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <deque>
#include <fstream>
#include <iostream>
#include <list>
#include <mutex>
#include <thread>
#include <queue>
#include <unordered_map>
#include <unordered_set>
namespace {
#include <hnswlib/hnswlib.h>
}  // namespace

namespace {

using namespace kyrodb_bench;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kK = 10, kTruthK = 100, kWarmup = 100, kInsert = 50000, kInsertTxn = 1000;
constexpr int kEfs[] = {10, 20, 40, 80, 100, 200, 400};
constexpr int kWidestEf = 400;
static_assert(kEfs[sizeof(kEfs) / sizeof(kEfs[0]) - 1] == kWidestEf, "kWidestEf is the last of kEfs");
constexpr int kDefaultEf = 40;
// Past this many base rows: COPY streams made while sent, no in-process hnswlib baseline (its build
// would take most of an hour and the memory the server needs), 5 sequential-scan queries, not 50.
constexpr std::size_t kLargeRows = 2000000;
constexpr Oid kInt4Oid = 23;
const char *const kFashion = "/usr/share/datasets/fashion-mnist/";

struct Options {
    std::string conn, dataset = "synthetic", phases = "load,build,search,filtered,zipf,cache,insert,merge", data = ".data";
    std::size_t n = 0, queries = 0;  // 0: the data set's default
    std::size_t dim = 128;           // of the synthetic data set
    std::string build_mem = "2GB";   // maintenance_work_mem of the build phase
    std::string quantization = "none";  // index option of every index built
    int ef_construction = 64;           // of the build phase's index
} opt;

Dataset data;
bool rows_released = false;  // after the load, when only build and search follow (10 M)
Truth base_truth;   // top 100 over the base rows (cached on disk)
Truth grown_truth;  // top 10 over base + inserted rows, computed when the table holds them
std::vector<std::string> qparam;  // the queries as binary vector parameters
Oid vector_oid = 0;

double seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

[[noreturn]] void die(std::string msg) {
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    fflush(stdout);
    fprintf(stderr, "kyrodb_driver: %s\n", msg.c_str());
    _exit(1);  // also from worker threads: no static destructors racing them
}

const char *metric_name() { return data.metric == Metric::L2 ? "l2" : "cosine"; }

void emit(const char *phase, const char *system, int ef, int conns, const char *figure, double value) {
    char ef_s[16] = "null", val[32] = "null";
    if (ef > 0) snprintf(ef_s, sizeof ef_s, "%d", ef);
    if (std::isfinite(value)) snprintf(val, sizeof val, "%.10g", value);
    printf("{\"dataset\":\"%s\",\"n\":%zu,\"dim\":%zu,\"metric\":\"%s\",\"phase\":\"%s\",\"system\":\"%s\","
           "\"ef_search\":%s,\"connections\":%d,\"figure\":\"%s\",\"value\":%s}\n",
           data.name.c_str(), data.n, data.dim, metric_name(), phase, system, ef_s, conns, figure, val);
    fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// libpq

PGresult *check(PGconn *c, PGresult *r, const std::string &what) {
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_COPY_IN)
        die(what + ": " + (r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(c)));
    return r;
}

void exec(PGconn *c, const std::string &sql) { PQclear(check(c, PQexec(c, sql.c_str()), sql)); }

// The first column of the result, its rows joined by newlines ("" for none or NULL).
std::string value(PGconn *c, const std::string &sql) {
    PGresult *r = check(c, PQexec(c, sql.c_str()), sql);
    std::string v;
    for (int i = 0; i < PQntuples(r); i++) v += (i > 0 ? "\n" : "") + std::string(PQgetvalue(r, i, 0));
    PQclear(r);
    return v;
}

// The settings every session starts with, and each phase after RESET ALL.
void session_defaults(PGconn *c) {
    exec(c, "SET client_min_messages = warning");
    // Every phase measures the index itself, except cache, which turns the result cache on; a
    // server without one refuses the setting, which changes nothing then.
    PQclear(PQexec(c, "SET kyrodb.cache = off"));
}

PGconn *connect() {
    PGconn *c = PQconnectdb(opt.conn.c_str());
    if (PQstatus(c) != CONNECTION_OK) die(std::string("cannot connect: ") + PQerrorMessage(c));
    session_defaults(c);
    return c;
}

void prepare(PGconn *c, const char *name, const std::string &sql, std::vector<Oid> types) {
    PQclear(check(c, PQprepare(c, name, sql.c_str(), int(types.size()), types.data()), sql));
}

// One round trip of a prepared statement, parameters and results in binary (results: int4 ids).
// Returns its wall time; only PQexecPrepared is inside the clock.
double run(PGconn *c, const char *stmt, std::initializer_list<const std::string *> params,
           std::vector<uint32_t> *ids = nullptr) {
    const char *vals[4];
    int lens[4], n = 0;
    static const int formats[4] = {1, 1, 1, 1};
    for (const std::string *p : params) vals[n] = p->data(), lens[n++] = int(p->size());
    auto t0 = Clock::now();
    PGresult *r = PQexecPrepared(c, stmt, n, vals, lens, formats, 1);
    double s = seconds(t0);
    check(c, r, std::string("statement ") + stmt);
    if (ids != nullptr) {
        ids->clear();
        for (int i = 0; i < PQntuples(r); i++) ids->push_back(be32(reinterpret_cast<const unsigned char *>(PQgetvalue(r, i, 0))));
    }
    PQclear(r);
    return s;
}

void put16(std::string &b, uint16_t v) { v = htons(v); b.append(reinterpret_cast<char *>(&v), 2); }
void put32(std::string &b, uint32_t v) { v = htonl(v); b.append(reinterpret_cast<char *>(&v), 4); }
std::string int4(uint32_t v) { std::string b; put32(b, v); return b; }

// pgvector's binary format: int16 dimensions, int16 0, float4 values, all in network byte order.
void put_vector(std::string &b, const float *v, std::size_t dim) {
    put16(b, uint16_t(dim));
    put16(b, 0);
    for (std::size_t i = 0; i < dim; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        put32(b, u);
    }
}

std::string vector_param(const float *v) { std::string b; put_vector(b, v, data.dim); return b; }

// A binary COPY stream (PGCOPY header, one tuple per row, trailer) of rows first_id.. with vectors v;
// header and trailer left out when asked (a stream sent in parts).
std::string copy_binary(uint32_t first_id, std::size_t count, const float *v, bool header = true, bool trailer = true) {
    std::string b;
    if (header) {
        b.assign("PGCOPY\n\377\r\n\0", 11);
        put32(b, 0);  // flags
        put32(b, 0);  // header extension length
    }
    for (std::size_t i = 0; i < count; i++) {
        uint32_t id = first_id + uint32_t(i);
        put16(b, 4);
        for (uint32_t x : {id, id % 100, id % 10}) put32(b, 4), put32(b, x);
        put32(b, uint32_t(4 + 4 * data.dim));
        put_vector(b, v + i * data.dim, data.dim);
    }
    if (trailer) put16(b, 0xffff);
    return b;
}

std::string copy_text(uint32_t first_id, std::size_t count, const float *v) {
    std::string b;
    char buf[32];
    for (std::size_t i = 0; i < count; i++) {
        uint32_t id = first_id + uint32_t(i);
        b += std::to_string(id) + '\t' + std::to_string(id % 100) + '\t' + std::to_string(id % 10) + "\t[";
        for (std::size_t j = 0; j < data.dim; j++) {
            if (j > 0) b += ',';
            b.append(buf, std::to_chars(buf, buf + sizeof buf, v[i * data.dim + j]).ptr);  // shortest round trip
        }
        b += "]\n";
    }
    return b;
}

// COPY ... FROM STDIN of a stream made part by part by next() (empty: the end), sent in 1 MB
// messages; returns the seconds from the statement to its completion, making the parts included.
// The streams' columns are named: the hybrid phase adds filter columns to items (NULL in the rows
// COPYed after it).
template <class Next>
double copy_in_parts(PGconn *c, const std::string &table, bool binary, Next next) {
    std::string sql = "COPY " + table + " (id, category, category10, embedding) FROM STDIN" + (binary ? " (FORMAT binary)" : "");
    auto t0 = Clock::now();
    PQclear(check(c, PQexec(c, sql.c_str()), sql));
    for (std::string part; !(part = next()).empty();)
        for (std::size_t off = 0; off < part.size(); off += 1 << 20)
            if (PQputCopyData(c, part.data() + off, int(std::min<std::size_t>(1 << 20, part.size() - off))) != 1)
                die(sql + ": " + PQerrorMessage(c));
    if (PQputCopyEnd(c, nullptr) != 1) die(sql + ": " + PQerrorMessage(c));
    for (PGresult *r; (r = PQgetResult(c)) != nullptr;) PQclear(check(c, r, sql));
    return seconds(t0);
}

double copy_in(PGconn *c, const std::string &table, const std::string &stream, bool binary) {
    bool sent = false;
    return copy_in_parts(c, table, binary, [&] { return sent ? std::string() : (sent = true, stream); });
}

// Rows first_id.. (vectors v) COPYed 20,000 at a time, so that ten million rows need no stream
// of gigabytes in memory.
double copy_rows(PGconn *c, const std::string &table, bool binary, uint32_t first_id, std::size_t count, const float *v) {
    constexpr std::size_t kPart = 20000;
    std::size_t done = 0;
    bool ended = false;
    return copy_in_parts(c, table, binary, [&] {
        if (ended) return std::string();
        std::size_t m = std::min(kPart, count - done);
        const float *at = v + done * data.dim;
        std::string part = binary ? copy_binary(first_id + uint32_t(done), m, at, done == 0, done + m == count)
                                  : copy_text(first_id + uint32_t(done), m, at);
        done += m;
        ended = done == count;
        return part;
    });
}

// ---------------------------------------------------------------------------------------------
// Data and the state of the table

void load_data() {
    data.name = opt.dataset;
    std::vector<float> base;
    if (opt.dataset == "synthetic") {
        data.dim = opt.dim;
        data.n = opt.n > 0 ? opt.n : 100000;
        data.rows = synthetic(data.n, data.dim, 1);
        data.queries = synthetic(1000, data.dim, 2);
    } else if (opt.dataset == "fashion") {
        data.rows = read_idx(std::string(kFashion) + "train-images-idx3-ubyte.gz", opt.n, &data.dim);
        data.queries = read_idx(std::string(kFashion) + "t10k-images-idx3-ubyte.gz", 1000, &data.dim);
        data.n = data.rows.size() / data.dim;
    } else if (opt.dataset == "minilm") {
        data.metric = Metric::Cosine;
        data.dim = 384;
        data.rows = read_f32(opt.data + "/minilm-384/embeddings.bin", data.dim);
        if (opt.n > 0 && opt.n * data.dim < data.rows.size()) data.rows.resize(opt.n * data.dim);
        data.n = data.rows.size() / data.dim;
        // queries: 100 of the documents themselves (ids 1, 8, 15, ...), so each one's nearest is itself
        for (std::size_t id = 1; id <= data.n && data.queries.size() < 100 * data.dim; id += 7)
            data.queries.insert(data.queries.end(), data.row(uint32_t(id)), data.row(uint32_t(id)) + data.dim);
    } else {
        die("unknown --dataset " + opt.dataset + " (synthetic, fashion, minilm)");
    }
    data.nq = data.queries.size() / data.dim;
    if (data.n == 0 || data.nq == 0) die("empty data set");
}

void compute_base_truth() {
    mkdir(opt.data.c_str(), 0755);
    mkdir((opt.data + "/truth").c_str(), 0755);
    std::string path = opt.data + "/truth/" + data.name + (data.dim != 128 && data.name == "synthetic" ? "-d" + std::to_string(data.dim) : "") +
                       "-" + std::to_string(data.n) + "-" + metric_name() + ".bin";
    if (load_truth(path, data, kTruthK, &base_truth)) return;
    fprintf(stderr, "exact top %zu of %zu queries over %zu rows (cached in %s)...\n", kTruthK, data.nq, data.n, path.c_str());
    auto t0 = Clock::now();
    base_truth = brute_force(data, kTruthK, [](std::size_t, uint32_t) { return true; });
    fprintf(stderr, "  %.1f s\n", seconds(t0));
    save_truth(path, base_truth, data.nq);
}

// The rows the insert phase adds: synthetic ones from seed 3; otherwise base rows again, each
// coordinate moved by 1 % of the vector's RMS (so the table does not hold exact duplicates).
void grow() {
    if (data.nrows() != data.n) return;
    grown_truth = Truth();
    std::size_t count = 2 * kInsert, dim = data.dim;
    if (data.name == "synthetic") {
        std::vector<float> extra = synthetic(count, dim, 3);
        data.rows.insert(data.rows.end(), extra.begin(), extra.end());
        return;
    }
    std::mt19937_64 rng(3);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    data.rows.reserve((data.n + count) * dim);
    for (std::size_t i = 0; i < count; i++) {
        const float *b = &data.rows[(i % data.n) * dim];
        float rms = std::sqrt(kyrodb::kernels().inner_product(b, b, dim) / float(dim));
        for (std::size_t j = 0; j < dim; j++) data.rows.push_back(b[j] + 0.01f * rms * noise(rng));
    }
}

const Truth &truth() {
    if (data.rows.empty() || data.nrows() == data.n) return base_truth;  // empty: released after the load
    if (grown_truth.k == 0) {
        fprintf(stderr, "exact top %zu over the %zu rows of the enlarged table...\n", kK, data.nrows());
        grown_truth = brute_force(data, kK, [](std::size_t, uint32_t) { return true; });
    }
    return grown_truth;
}

// Checks that the table (and the index, if needed) is there and holds this run's data, and puts
// the rows in memory in step with it: the base rows, or those plus the insert phase's.
void require(PGconn *c, const char *phase, bool index) {
    if (value(c, "SELECT to_regclass('items') IS NOT NULL") != "t")
        die(std::string("phase ") + phase + " needs table items: run the load phase first");
    if (index && value(c, "SELECT to_regclass('items_idx') IS NOT NULL") != "t")
        die(std::string("phase ") + phase + " needs index items_idx: run the build phase first");
    std::size_t rows = std::stoull(value(c, "SELECT count(*) FROM items"));
    std::size_t dim = std::stoull(value(c, "SELECT coalesce((SELECT vector_dims(embedding) FROM items LIMIT 1), 0)"));
    if (dim == data.dim && rows == data.n) {
        if (!rows_released) data.rows.resize(data.n * data.dim);
    } else if (dim == data.dim && rows == data.n + 2 * kInsert) {
        grow();
    } else {
        die("phase " + std::string(phase) + ": table items holds " + std::to_string(rows) + " rows of " +
            std::to_string(dim) + " dimensions, not this --dataset/--n: run the load phase first");
    }
}

// ---------------------------------------------------------------------------------------------
// Measurement

struct Run {
    std::vector<double> lat;  // seconds per query
    double wall = 0;
    std::size_t hits = 0, wanted = 0, rows = 0;

    double qps() const { return double(lat.size()) / wall; }
    double recall() const { return wanted > 0 ? double(hits) / double(wanted) : NAN; }
    double rows_per_query() const { return double(rows) / double(lat.size()); }
    double ms(double p) const {  // nearest-rank percentile (NaN, emitted as null, of no queries)
        if (lat.empty()) return NAN;
        std::vector<double> s(lat);
        std::sort(s.begin(), s.end());
        std::size_t i = std::size_t(std::ceil(p * double(s.size())));
        return 1e3 * s[std::min(s.size() - 1, i > 0 ? i - 1 : 0)];
    }
};

// The figures of one run on one connection: recall@10 (unless the run was not scored), qps, p50_ms,
// p99_ms.
void emit_run(const char *phase, const char *system, int ef, const Run &r, bool scored = true) {
    if (scored) emit(phase, system, ef, 1, "recall@10", r.recall());
    emit(phase, system, ef, 1, "qps", r.qps());
    emit(phase, system, ef, 1, "p50_ms", r.ms(0.50));
    emit(phase, system, ef, 1, "p99_ms", r.ms(0.99));
}

// Runs the listed queries once each on one connection, after `warmup` untimed ones (which also
// load the index into this backend). The ids are kept and scored against t after the clock stops.
// after(i), if given, runs after the i-th listed query; its time is left out of the run's wall time.
Run run_queries(PGconn *c, const char *stmt, const std::vector<std::size_t> &list, const Truth &t,
                const std::vector<std::string> *second = nullptr, std::size_t warmup = kWarmup,
                const std::function<void(std::size_t)> &after = nullptr) {
    auto one = [&](std::size_t q, std::vector<uint32_t> *ids) {
        return second ? run(c, stmt, {&qparam[q], &(*second)[q]}, ids) : run(c, stmt, {&qparam[q]}, ids);
    };
    for (std::size_t i = 0; i < std::min(warmup, list.size()); i++) one(list[i], nullptr);
    Run r;
    r.lat.resize(list.size());
    std::vector<std::vector<uint32_t>> found(list.size());
    for (auto &f : found) f.reserve(kK);
    auto t0 = Clock::now();
    double outside = 0;
    for (std::size_t i = 0; i < list.size(); i++) {
        r.lat[i] = one(list[i], &found[i]);
        if (after) {
            auto t1 = Clock::now();
            after(i);
            outside += seconds(t1);
        }
    }
    r.wall = seconds(t0) - outside;
    for (std::size_t i = 0; i < list.size(); i++) {
        score(data, t, list[i], found[i], kK, &r.hits, &r.wanted);
        r.rows += found[i].size();
    }
    return r;
}

// One untimed pass over `list` at the widest ef_search of the sweep, its mean reported as
// kyrodb-first-pass: on a connection that has not read the pool yet, what its first queries cost
// (one that ran kyrodb_prewarm has touched the pages already). A backend's first touch of each
// 4 kB page of the image pool is slow on some VMs (on the 2-core PVM guests these runs use, about
// 6 us a page, in the hypervisor: a new connection's first 1,000 queries at 1 M x 128 ran at
// 1-2.8 ms each against 0.2 ms after), and a wider beam touches the pages of the narrower ones:
// without this pass the sweep would charge those touches to whichever ef_search first reaches a
// page. Huge pages remove the cost (a 2 MB page is touched once).
void warm_pass(PGconn *c, const char *phase, const std::vector<std::size_t> &list, const Truth &t) {
    exec(c, "SET kyrodb.ef_search = " + std::to_string(kWidestEf));
    Run w = run_queries(c, "knn", list, t, nullptr, 0);
    exec(c, "SET kyrodb.ef_search = " + std::to_string(kDefaultEf));
    emit(phase, "kyrodb-first-pass", kWidestEf, 1, "mean_ms", w.wall * 1e3 / double(list.size()));
    fprintf(stderr, "  first pass (untimed): ef_search %d, %.2f ms a query\n", kWidestEf,
            w.wall * 1e3 / double(list.size()));
}

void prepare_knn(PGconn *c, int ef) {
    exec(c, "SET kyrodb.ef_search = " + std::to_string(ef));
    const char *op = data.metric == Metric::L2 ? "<->" : "<=>";
    prepare(c, "knn", std::string("SELECT id FROM items ORDER BY embedding ") + op + " $1 LIMIT 10", {vector_oid});
    prepare(c, "filter1", std::string("SELECT id FROM items WHERE category = $2 ORDER BY embedding ") + op + " $1 LIMIT 10",
            {vector_oid, kInt4Oid});
    prepare(c, "filter10", std::string("SELECT id FROM items WHERE category10 = $2 ORDER BY embedding ") + op + " $1 LIMIT 10",
            {vector_oid, kInt4Oid});
}

std::vector<std::size_t> first_queries(std::size_t count) {
    std::vector<std::size_t> list(std::min(count, data.nq));
    for (std::size_t i = 0; i < list.size(); i++) list[i] = i;
    return list;
}

// Throughput of `conns` connections, each with its own backend and thread, sharing out the query
// list `passes` times over, and the latency of every query. Connections are opened and warmed
// before the clock starts.
Run run_parallel(int conns, int ef, std::size_t passes) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    Clock::time_point t0;
    std::vector<Clock::time_point> end(conns);
    std::vector<std::vector<double>> lat(conns);
    std::vector<std::thread> threads;
    for (int t = 0; t < conns; t++)
        threads.emplace_back([&, t] {
            PGconn *c = connect();
            prepare_knn(c, ef);
            std::vector<std::size_t> mine;
            for (std::size_t q = std::size_t(t); q < data.nq; q += std::size_t(conns)) mine.push_back(q);
            lat[t].reserve(passes * mine.size());
            // A new backend's first touch of each 4 kB page of the pool is slow on some VMs (see
            // warm_pass): every query of this connection runs once untimed, at the widest ef.
            exec(c, "SET kyrodb.ef_search = " + std::to_string(kWidestEf));
            for (std::size_t q : mine) run(c, "knn", {&qparam[q]});
            exec(c, "SET kyrodb.ef_search = " + std::to_string(ef));
            ready++;
            while (!go) std::this_thread::yield();
            for (std::size_t p = 0; p < passes; p++)
                for (std::size_t q : mine) lat[t].push_back(run(c, "knn", {&qparam[q]}));
            end[t] = Clock::now();
            PQfinish(c);
        });
    while (ready < conns) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    t0 = Clock::now();
    go = true;
    for (auto &th : threads) th.join();
    Run r;
    r.wall = std::chrono::duration<double>(*std::max_element(end.begin(), end.end()) - t0).count();
    for (const auto &l : lat) r.lat.insert(r.lat.end(), l.begin(), l.end());
    return r;
}

// ---------------------------------------------------------------------------------------------
// Phases

void phase_load(PGconn *c) {
    data.rows.resize(data.n * data.dim);
    grown_truth = Truth();
    std::string cols = "(id int PRIMARY KEY, category int NOT NULL, category10 int NOT NULL, embedding vector(" +
                       std::to_string(data.dim) + "))";
    exec(c, "DROP TABLE IF EXISTS items, items_text, items_noindex");
    // No autovacuum: its VACUUM would flush the hot tier into a segment at a random moment, and the
    // insert phase measures the index as the inserts leave it.
    exec(c, "CREATE TABLE items " + cols + " WITH (autovacuum_enabled = off)");
    // Streams made beforehand, so that the rates are the server's; past 2,000,000 rows (gigabytes of
    // stream) made part by part while the COPY runs, their making included.
    const bool whole = data.n <= kLargeRows;
    double bin_s = whole ? copy_in(c, "items", copy_binary(1, data.n, data.rows.data()), true)
                         : copy_rows(c, "items", true, 1, data.n, data.rows.data());
    exec(c, "CREATE TABLE items_text " + cols);
    double text_s = whole ? copy_in(c, "items_text", copy_text(1, data.n, data.rows.data()), false)
                          : copy_rows(c, "items_text", false, 1, data.n, data.rows.data());
    exec(c, "DROP TABLE items_text");
    exec(c, "VACUUM ANALYZE items");  // what autovacuum would have done: statistics, visibility map
    emit("load", "kyrodb-copy", 0, 1, "rows_per_s", double(data.n) / bin_s);
    emit("load", "kyrodb-text-copy", 0, 1, "rows_per_s", double(data.n) / text_s);
    fprintf(stderr, "load: %zu rows; binary COPY %.0f rows/s, text COPY %.0f rows/s\n", data.n, data.n / bin_s, data.n / text_s);
}

void phase_build(PGconn *c) {
    require(c, "build", false);
    exec(c, "SET maintenance_work_mem = '" + opt.build_mem + "'");
    exec(c, "DROP INDEX IF EXISTS items_idx");
    std::string opclass = data.metric == Metric::L2 ? "vector_l2_ops" : "vector_cosine_ops";
    // The backend's private memory (RssAnon: not the shared buffers it touches), sampled while it builds.
    std::string status = "/proc/" + value(c, "SELECT pg_backend_pid()") + "/status";
    std::atomic<bool> built{false};
    std::atomic<double> peak_anon{0};
    std::thread sampler([&] {
        while (!built) {
            std::ifstream f(status);
            for (std::string line; std::getline(f, line);)
                if (line.rfind("RssAnon:", 0) == 0) peak_anon = std::max<double>(peak_anon, 1024.0 * std::stod(line.substr(8)));
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    });
    auto t0 = Clock::now();
    exec(c, "CREATE INDEX items_idx ON items USING kyrodb (embedding " + opclass + ") WITH (m = 16, ef_construction = " +
                std::to_string(opt.ef_construction) + ", quantization = '" + opt.quantization + "')");
    double s = seconds(t0);
    built = true;
    sampler.join();
    exec(c, "RESET maintenance_work_mem");
    // The build's pages written out now, as a server left idle would, rather than by a timed
    // checkpoint in the middle of the searches.
    exec(c, "CHECKPOINT");
    double bytes = std::stod(value(c, "SELECT pg_relation_size('items_idx')"));
    double segments = std::stod(value(c, "SELECT segments FROM kyrodb_index_stats('items_idx')"));
    emit("build", "kyrodb", 0, 1, "seconds", s);
    emit("build", "kyrodb", 0, 1, "bytes", bytes);
    emit("build", "kyrodb", 0, 1, "segments", segments);
    if (peak_anon > 0) emit("build", "kyrodb", 0, 1, "peak_anon_bytes", peak_anon);
    fprintf(stderr, "build: maintenance_work_mem %s, %.0f segments, peak private memory of the backend %.2f GB\n",
            opt.build_mem.c_str(), segments, peak_anon / 1e9);
    fprintf(stderr, "build: %.2f s, %.1f MB; kyrodb_index_stats %s\n", s, bytes / 1e6,
            value(c, "SELECT kyrodb_index_stats('items_idx')::text").c_str());

    // Loading the new segments' images into the shared pool, from the pages the build left in shared
    // buffers: the pool's own counters time the copy and check of each image.
    if (value(c, "SELECT state FROM kyrodb_memory()") != "active") {
        fprintf(stderr, "  no shared pool (%s): image load not measured\n", value(c, "SELECT state FROM kyrodb_memory()").c_str());
        return;
    }
    double bytes0 = std::stod(value(c, "SELECT load_bytes FROM kyrodb_memory()"));
    double secs0 = std::stod(value(c, "SELECT load_seconds FROM kyrodb_memory()"));
    auto t1 = Clock::now();
    exec(c, "SELECT kyrodb_prewarm('items_idx')");
    double prewarm_s = seconds(t1);
    double loaded = std::stod(value(c, "SELECT load_bytes FROM kyrodb_memory()")) - bytes0;
    double load_s = std::stod(value(c, "SELECT load_seconds FROM kyrodb_memory()")) - secs0;
    if (loaded > 0 && load_s > 0) {
        emit("build", "kyrodb-image-load", 0, 1, "mb_per_s", loaded / 1e6 / load_s);
        emit("build", "kyrodb-prewarm", 0, 1, "seconds", prewarm_s);
        fprintf(stderr, "  images: %.1f MB loaded into shared memory at %.0f MB/s (kyrodb_prewarm %.2f s)\n",
                loaded / 1e6, loaded / 1e6 / load_s, prewarm_s);
    }
    double pool = std::stod(value(c, "SELECT used_bytes FROM kyrodb_memory()"));
    emit("build", "kyrodb-pool", 0, 1, "bytes", pool);
    fprintf(stderr, "  shared pool: %.1f MB used\n", pool / 1e6);
}

void hnswlib_baseline() {
    const std::size_t n = data.n, dim = data.dim;
    const bool cosine = data.metric == Metric::Cosine;
    // cosine: inner product of unit vectors ranks the same
    std::vector<float> base(data.rows.begin(), data.rows.begin() + std::ptrdiff_t(n * dim)), queries(data.queries);
    if (cosine)
        for (std::vector<float> *vs : {&base, &queries})
            for (std::size_t i = 0; i < vs->size(); i += dim) {
                float *v = &(*vs)[i], norm = std::sqrt(kyrodb::kernels().inner_product(v, v, dim));
                for (std::size_t j = 0; j < dim; j++) v[j] /= norm;
            }
    std::unique_ptr<hnswlib::SpaceInterface<float>> space;
    if (cosine) space = std::make_unique<hnswlib::InnerProductSpace>(dim);
    else space = std::make_unique<hnswlib::L2Space>(dim);
    auto t0 = Clock::now();
    hnswlib::HierarchicalNSW<float> index(space.get(), n, 16, 64, 42);
    index.addPoint(&base[0], 1);  // labels are the table's ids
    std::atomic<std::size_t> next{1};
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; t++)
        threads.emplace_back([&] {
            for (std::size_t i; (i = next++) < n;) index.addPoint(&base[i * dim], i + 1);
        });
    for (auto &th : threads) th.join();
    double build_s = seconds(t0);
    emit("search", "hnswlib", 0, 1, "seconds", build_s);
    fprintf(stderr, "  hnswlib: build %.2f s (2 threads)\n", build_s);
    for (int ef : kEfs) {
        index.setEf(std::size_t(ef));
        Run r;
        std::vector<uint32_t> found;
        for (std::size_t q = 0; q < data.nq; q++) {
            found.clear();
            for (auto res = index.searchKnn(&queries[q * dim], kK); !res.empty(); res.pop()) found.push_back(uint32_t(res.top().second));
            std::reverse(found.begin(), found.end());
            score(data, base_truth, q, found, kK, &r.hits, &r.wanted);
        }
        // throughput: whole passes over the queries, at least 0.5 s of them
        std::size_t passes = 0;
        t0 = Clock::now();
        do {
            for (std::size_t q = 0; q < data.nq; q++) {
                auto res = index.searchKnn(&queries[q * dim], kK);
                if (res.empty()) die("hnswlib returned nothing");
            }
            passes++;
        } while (seconds(t0) < 0.5);
        double qps = double(passes * data.nq) / seconds(t0);
        emit("search", "hnswlib", ef, 1, "recall@10", r.recall());
        emit("search", "hnswlib", ef, 1, "qps", qps);
        fprintf(stderr, "  hnswlib ef %3d: recall %.4f, %.0f qps\n", ef, r.recall(), qps);
    }
}

void phase_search(PGconn *c) {
    require(c, "search", true);
    const Truth &t = truth();
    prepare_knn(c, kDefaultEf);
    std::vector<std::size_t> all = first_queries(data.nq);
    // The figures are only kyrodb's if the plan uses the index.
    std::string plan = value(c, "EXPLAIN EXECUTE knn('" + value(c, "SELECT embedding::text FROM items LIMIT 1") + "')");
    if (plan.find("items_idx") == std::string::npos) die("the search plan does not use items_idx: " + plan);
    fprintf(stderr, "search: %zu queries, %zu rows\n", data.nq, data.rows.empty() ? data.n : data.nrows());
    warm_pass(c, "search", all, t);
    for (int ef : kEfs) {
        exec(c, "SET kyrodb.ef_search = " + std::to_string(ef));
        Run r = run_queries(c, "knn", all, t);
        emit("search", "kyrodb", ef, 1, "recall@10", r.recall());
        emit("search", "kyrodb", ef, 1, "qps", r.qps());
        emit("search", "kyrodb", ef, 1, "p50_ms", r.ms(0.50));
        emit("search", "kyrodb", ef, 1, "p95_ms", r.ms(0.95));
        emit("search", "kyrodb", ef, 1, "p99_ms", r.ms(0.99));
        // at least two passes, and about 1 s of work for two connections
        std::size_t passes = std::max<std::size_t>(2, std::size_t(std::ceil(2.0 / r.wall)));
        Run r2 = run_parallel(2, ef, passes);
        emit("search", "kyrodb", ef, 2, "qps", r2.qps());
        emit("search", "kyrodb", ef, 2, "p50_ms", r2.ms(0.50));
        emit("search", "kyrodb", ef, 2, "p99_ms", r2.ms(0.99));
        fprintf(stderr, "  kyrodb ef %3d: recall %.4f, %.0f qps, p50 %.2f p95 %.2f p99 %.2f ms; 2 conns: %.0f qps, p99 %.2f ms\n",
                ef, r.recall(), r.qps(), r.ms(0.5), r.ms(0.95), r.ms(0.99), r2.qps(), r2.ms(0.99));
    }

    // Baseline: the exact answer through SQL (sequential scan and sort); a statement prepared
    // while index scans are off, so its plans never use the index.
    exec(c, "SET enable_indexscan = off");
    const char *op = data.metric == Metric::L2 ? "<->" : "<=>";
    prepare(c, "exact", std::string("SELECT id FROM items ORDER BY embedding ") + op + " $1 LIMIT 10", {vector_oid});
    Run e = run_queries(c, "exact", first_queries(data.n > kLargeRows ? 5 : 50), t, nullptr, 2);
    exec(c, "RESET enable_indexscan");
    emit("search", "postgres-exact", 0, 1, "recall@10", e.recall());
    emit("search", "postgres-exact", 0, 1, "qps", e.qps());
    emit("search", "postgres-exact", 0, 1, "p50_ms", e.ms(0.50));
    emit("search", "postgres-exact", 0, 1, "p99_ms", e.ms(0.99));
    fprintf(stderr, "  postgres-exact: recall %.4f, %.1f qps, p50 %.1f p99 %.1f ms\n", e.recall(), e.qps(), e.ms(0.5), e.ms(0.99));

    // Baseline: Postgres's floor per query, a primary-key lookup of a random row.
    prepare(c, "floor", "SELECT id FROM items WHERE id = $1", {kInt4Oid});
    std::mt19937_64 rng(5);
    std::uniform_int_distribution<uint32_t> pick(1, uint32_t(data.rows.empty() ? data.n : data.nrows()));
    std::vector<std::string> keys(kWarmup + 5000);
    for (auto &k : keys) k = int4(pick(rng));
    for (std::size_t i = 0; i < kWarmup; i++) run(c, "floor", {&keys[i]});
    Run f;
    auto t0 = Clock::now();
    for (std::size_t i = kWarmup; i < keys.size(); i++) f.lat.push_back(run(c, "floor", {&keys[i]}));
    f.wall = seconds(t0);
    emit("search", "postgres-floor", 0, 1, "qps", f.qps());
    emit("search", "postgres-floor", 0, 1, "p50_ms", f.ms(0.50));
    emit("search", "postgres-floor", 0, 1, "p99_ms", f.ms(0.99));
    fprintf(stderr, "  postgres-floor: %.0f qps, p50 %.3f p99 %.3f ms\n", f.qps(), f.ms(0.5), f.ms(0.99));

    if (data.n <= kLargeRows) hnswlib_baseline();
    else fprintf(stderr, "  hnswlib baseline skipped at this size\n");
}

void phase_filtered(PGconn *c) {
    require(c, "filtered", true);
    prepare_knn(c, kDefaultEf);
    std::vector<std::size_t> all = first_queries(data.nq);
    struct { const char *stmt, *system; uint32_t mod; } kinds[] = {{"filter1", "kyrodb-filter-1pct", 100},
                                                                   {"filter10", "kyrodb-filter-10pct", 10}};
    for (const auto &k : kinds) {
        // query q asks for category q % mod: every category in turn
        std::vector<std::string> cat(data.nq);
        for (std::size_t q = 0; q < data.nq; q++) cat[q] = int4(uint32_t(q % k.mod));
        Truth t = brute_force(data, kK, [&](std::size_t q, uint32_t id) { return id % k.mod == q % k.mod; });
        Run r = run_queries(c, k.stmt, all, t, &cat, 20);
        emit("filtered", k.system, kDefaultEf, 1, "recall@10", r.recall());
        emit("filtered", k.system, kDefaultEf, 1, "rows_returned", r.rows_per_query());
        emit("filtered", k.system, kDefaultEf, 1, "p50_ms", r.ms(0.50));
        emit("filtered", k.system, kDefaultEf, 1, "p99_ms", r.ms(0.99));
        emit("filtered", k.system, kDefaultEf, 1, "qps", r.qps());
        fprintf(stderr, "filtered %s (ef %d): recall %.4f, %.2f rows, %.0f qps, p50 %.2f p99 %.2f ms\n", k.system,
                kDefaultEf, r.recall(), r.rows_per_query(), r.qps(), r.ms(0.5), r.ms(0.99));
    }
}

// The hash the hybrid phase selects rows by (also in its SQL): the vectors come in id order.
uint64_t row_hash(uint64_t id) { return (id * 2654435761ull) % 4294967291ull; }

// Filter columns (issue: hybrid search). The same filtered queries answered by the executor above
// the single-column index items_idx, then by an index with the filter columns, items_hybrid
// (embedding, category, category10, sel01), built for the phase and dropped after it.
void phase_hybrid(PGconn *c) {
    require(c, "hybrid", true);
    if (data.nrows() != data.n) die("phase hybrid needs the table as loaded: run load,build first");
    exec(c, "ALTER TABLE items ADD COLUMN IF NOT EXISTS sel01 int");
    exec(c, "UPDATE items SET sel01 = (id::bigint * 2654435761) % 4294967291 % 1000 WHERE sel01 IS DISTINCT FROM "
            "(id::bigint * 2654435761) % 4294967291 % 1000");
    exec(c, "VACUUM ANALYZE items");
    exec(c, "DROP INDEX IF EXISTS items_hybrid");
    const char *op = data.metric == Metric::L2 ? "<->" : "<=>";
    struct Kind {
        const char *name, *where;  // where: the condition on $2
        std::function<bool(std::size_t q, uint32_t id)> keep;
        std::function<uint32_t(std::size_t q)> param;
    };
    const std::vector<Kind> kinds = {
        {"0.1pct", "sel01 = $2", [](std::size_t q, uint32_t id) { return row_hash(id) % 1000 == q % 1000; },
         [](std::size_t q) { return uint32_t(q % 1000); }},
        {"1pct", "category = $2", [](std::size_t q, uint32_t id) { return id % 100 == q % 100; },
         [](std::size_t q) { return uint32_t(q % 100); }},
        {"10pct", "category10 = $2", [](std::size_t q, uint32_t id) { return id % 10 == q % 10; },
         [](std::size_t q) { return uint32_t(q % 10); }},
        {"50pct", "category < $2", [](std::size_t, uint32_t id) { return id % 100 < 50; },
         [](std::size_t) { return 50u; }},
        {"100pct", "category >= $2", [](std::size_t, uint32_t) { return true; }, [](std::size_t) { return 0u; }},
        {"1pct-two", "category10 = $2 AND sel01 < 100",
         [](std::size_t q, uint32_t id) { return id % 10 == q % 10 && row_hash(id) % 1000 < 100; },
         [](std::size_t q) { return uint32_t(q % 10); }},
    };
    std::vector<std::size_t> all = first_queries(data.nq);
    std::vector<Truth> truths;
    for (const Kind &k : kinds) truths.push_back(brute_force(data, kK, k.keep));
    auto measure = [&](const char *system, int ef) {
        exec(c, "SET kyrodb.ef_search = " + std::to_string(ef));
        for (std::size_t i = 0; i < kinds.size(); i++) {
            const Kind &k = kinds[i];
            const std::string stmt = std::string("hybrid_") + system + "_" + std::to_string(ef) + "_" + k.name;
            prepare(c, stmt.c_str(), std::string("SELECT id FROM items WHERE ") + k.where + " ORDER BY embedding " + op +
                                         " $1 LIMIT 10", {vector_oid, kInt4Oid});
            std::vector<std::string> second(data.nq);
            for (std::size_t q = 0; q < data.nq; q++) second[q] = int4(k.param(q));
            Run r = run_queries(c, stmt.c_str(), all, truths[i], &second, 20);
            const std::string name = std::string("kyrodb-") + system + "-" + k.name;
            emit("hybrid", name.c_str(), ef, 1, "recall@10", r.recall());
            emit("hybrid", name.c_str(), ef, 1, "rows_returned", r.rows_per_query());
            emit_run("hybrid", name.c_str(), ef, r, false);
            fprintf(stderr, "hybrid %s (ef %d): recall %.4f, %.2f rows, %.0f qps, p50 %.2f p99 %.2f ms\n", name.c_str(),
                    ef, r.recall(), r.rows_per_query(), r.qps(), r.ms(0.5), r.ms(0.99));
        }
    };
    measure("executor-filter", kDefaultEf);
    exec(c, "SET maintenance_work_mem = '" + opt.build_mem + "'");
    std::string opclass = data.metric == Metric::L2 ? "vector_l2_ops" : "vector_cosine_ops";
    auto t0 = Clock::now();
    exec(c, "CREATE INDEX items_hybrid ON items USING kyrodb (embedding " + opclass + ", category, category10, sel01)");
    const double build_s = seconds(t0);
    exec(c, "RESET maintenance_work_mem");
    // The build's pages are dirty and its WAL past max_wal_size: the checkpoint that writes them
    // out runs now rather than during the measurement.
    exec(c, "CHECKPOINT");
    emit("hybrid", "kyrodb-index-filter", 0, 1, "build_seconds", build_s);
    emit("hybrid", "kyrodb-index-filter", 0, 1, "bytes", std::stod(value(c, "SELECT pg_relation_size('items_hybrid')")));
    fprintf(stderr, "hybrid: items_hybrid built in %.0f s\n", build_s);
    // The filtered plans must use the new index; say so if the planner picks the old one.
    const std::string plan = value(c, std::string("EXPLAIN (COSTS OFF) SELECT id FROM items WHERE category = 3 ORDER BY "
                                                  "embedding ") + op + " (SELECT embedding FROM items LIMIT 1) LIMIT 10");
    if (plan.find("items_hybrid") == std::string::npos)
        fprintf(stderr, "hybrid: the planner does not use items_hybrid for a filtered query\n");
    measure("index-filter", kDefaultEf);
    measure("index-filter", 80);
    exec(c, "DROP INDEX items_hybrid");
    exec(c, "SET kyrodb.ef_search = " + std::to_string(kDefaultEf));
}

// 20,000 requests, Zipf(1.1) over queries 0..distinct-1 (seed 4). Query q is rank q + 1: the popular
// queries are a random few, the queries being random draws.
std::vector<std::size_t> zipf_stream(std::size_t distinct) {
    Zipf zipf(distinct, 1.1);
    std::mt19937_64 rng(4);
    std::vector<std::size_t> list(20000);
    for (auto &q : list) q = zipf(rng);
    return list;
}

void phase_zipf(PGconn *c) {
    require(c, "zipf", true);
    const Truth &t = truth();
    prepare_knn(c, kDefaultEf);
    std::vector<std::size_t> list = zipf_stream(data.nq);
    for (std::size_t q = 0; q < std::min(kWarmup, data.nq); q++) run(c, "knn", {&qparam[q]});
    Run r = run_queries(c, "knn", list, t, nullptr, 0);
    emit_run("zipf", "kyrodb", kDefaultEf, r);
    fprintf(stderr, "zipf (s 1.1, %zu queries, ef %d): recall %.4f, %.0f qps, p50 %.2f p99 %.2f ms\n", list.size(),
            kDefaultEf, r.recall(), r.qps(), r.ms(0.5), r.ms(0.99));
}

// The result cache (issue: SQL level, 1 connection, a Zipf(1.1) stream over 10,000 distinct queries,
// cache on against off, and beside 1,000 inserts a second). The zipf phase's stream, 20,000 requests,
// over 10,000 distinct queries: synthetic seed 2 drawn 10,000 deep, whose first 1,000 are the data
// set's queries. Three runs at ef_search 40, each after kyrodb_cache_reset(): kyrodb.cache off; on;
// on while a second connection INSERTs single rows (each its own transaction) at 1,000 a second,
// paced by the clock. After each query, outside the clock, the cache's total counters are read: a
// request is a hit if the hits counter moved. qps counts the queries' time only, in all three runs.
// recall@10 is scored only on the requests for the data set's queries, whose exact answers the other
// phases use (brute force over 10,000 queries would take too long): the 1,000 most popular, about
// 84 % of the requests. The inserted rows are the insert phase's (ids n+1..); a returned one counts
// when no farther than the 10th true neighbour among the base rows. They are deleted, vacuumed and
// flushed away at the end, and the cache emptied.
void phase_cache(PGconn *c) {
    require(c, "cache", true);
    if (data.nrows() != data.n) die("phase cache needs the table as loaded: run load,build first");
    if (data.name != "synthetic") {
        fprintf(stderr, "cache: skipped, it needs --dataset synthetic (10,000 distinct queries)\n");
        return;
    }
    // A server built before the result cache: say so and go on with the other phases.
    for (const char *sql : {"SELECT kyrodb_cache_reset()", "SELECT current_setting('kyrodb.cache')",
                            "SELECT hits FROM kyrodb_cache_stats() WHERE index IS NULL"}) {
        PGresult *r = PQexec(c, sql);
        bool rows = PQresultStatus(r) == PGRES_TUPLES_OK;
        std::string why = !rows ? PQresultErrorMessage(r) : PQntuples(r) != 1 ? "not one row" : "";
        PQclear(r);
        if (why.empty()) continue;
        while (!why.empty() && why.back() == '\n') why.pop_back();
        fprintf(stderr, "cache: skipped, this server has no result cache (%s: %s)\n", sql, why.c_str());
        return;
    }

    constexpr std::size_t kDistinct = 10000;
    constexpr double kInsertRate = 1000;  // rows per second
    std::vector<float> queries = synthetic(kDistinct, data.dim, 2);
    std::vector<std::string> params(kDistinct);
    for (std::size_t q = 0; q < kDistinct; q++) params[q] = vector_param(&queries[q * data.dim]);
    std::size_t nq = kDistinct;
    auto swap_queries = [&] {  // these queries in place of the data set's, and back
        std::swap(data.queries, queries);
        std::swap(qparam, params);
        std::swap(data.nq, nq);
    };
    // exact answers for queries 0..nq-1 (the data set's), none (not scored) for the others
    Truth t;
    t.k = base_truth.k;
    t.ids.assign(kDistinct * t.k, 0);
    t.dist.assign(kDistinct * t.k, INFINITY);
    std::copy_n(base_truth.ids.begin(), std::min(data.nq, kDistinct) * t.k, t.ids.begin());
    std::copy_n(base_truth.dist.begin(), std::min(data.nq, kDistinct) * t.k, t.dist.begin());
    const std::size_t with_truth = data.nq;
    swap_queries();
    const std::vector<std::size_t> stream = zipf_stream(kDistinct);

    prepare_knn(c, kDefaultEf);
    exec(c, "SET kyrodb.cache = off");
    for (std::size_t q = 0; q < kWarmup; q++) run(c, "knn", {&qparam[q]});
    struct Measured {
        Run run;
        std::vector<char> hit;  // per request
        double lookups = 0;     // cache lookups per request (1 if on, as a check of the counting)
    };
    auto measure = [&](bool on) {
        exec(c, std::string("SET kyrodb.cache = ") + (on ? "on" : "off"));
        exec(c, "SELECT kyrodb_cache_reset()");
        Measured m;
        m.hit.resize(stream.size());
        long long lookups = 0, hits = 0;
        auto counters = [&](std::size_t i) {  // after request i; before the first if i is past the end
            const char *sql = "SELECT lookups || ' ' || hits FROM kyrodb_cache_stats() WHERE index IS NULL";
            long long l, h;
            if (sscanf(value(c, sql).c_str(), "%lld %lld", &l, &h) != 2) die(std::string(sql) + ": not two numbers");
            if (i < stream.size()) {
                m.hit[i] = h > hits;
                m.lookups += double(l - lookups);
            }
            lookups = l;
            hits = h;
        };
        counters(stream.size());
        m.run = run_queries(c, "knn", stream, t, nullptr, 0, counters);
        m.lookups /= double(stream.size());
        return m;
    };
    auto report = [&](const char *system, const Measured &m, double insert_rate) {
        Run part[2];  // misses, hits
        for (std::size_t i = 0; i < stream.size(); i++) part[m.hit[i] != 0].lat.push_back(m.run.lat[i]);
        const double hit_rate = double(part[1].lat.size()) / double(stream.size());
        emit("cache", system, kDefaultEf, 1, "hit_rate", hit_rate);
        emit_run("cache", system, kDefaultEf, m.run);
        emit("cache", system, kDefaultEf, 1, "hit_p50_ms", part[1].ms(0.50));
        emit("cache", system, kDefaultEf, 1, "hit_p99_ms", part[1].ms(0.99));
        emit("cache", system, kDefaultEf, 1, "miss_p50_ms", part[0].ms(0.50));
        emit("cache", system, kDefaultEf, 1, "miss_p99_ms", part[0].ms(0.99));
        if (insert_rate > 0) emit("cache", system, kDefaultEf, 1, "insert_rows_s", insert_rate);
        fprintf(stderr, "  %s: hit rate %.4f (%.2f lookups/request), recall %.4f, %.0f qps, p50 %.3f p99 %.3f ms; "
                        "hits p50 %.3f p99 %.3f ms, misses p50 %.3f p99 %.3f ms",
                system, hit_rate, m.lookups, m.run.recall(), m.run.qps(), m.run.ms(0.5), m.run.ms(0.99),
                part[1].ms(0.5), part[1].ms(0.99), part[0].ms(0.5), part[0].ms(0.99));
        if (insert_rate > 0) fprintf(stderr, "; beside %.0f INSERTs/s", insert_rate);
        fprintf(stderr, "\n");
    };

    Measured off = measure(false);
    fprintf(stderr, "cache (%zu requests, Zipf(1.1) over %zu queries, ef %d; recall@10 on the %.0f %% of requests "
                    "for queries 1..%zu):\n",
            stream.size(), kDistinct, kDefaultEf, 100.0 * double(off.run.wanted) / double(kK * stream.size()), with_truth);
    report("kyrodb-cache-off", off, 0);
    report("kyrodb-cache-on", measure(true), 0);

    grow();  // the vectors of the rows to insert: ids n+1..
    const uint32_t first = uint32_t(data.n) + 1;
    const std::size_t most = data.nrows() - data.n;
    std::atomic<bool> ready{false}, stop{false};
    std::size_t inserted = 0;
    double insert_s = 0;
    std::thread inserter([&] {
        PGconn *w = connect();
        // 1,000 commits a second whatever the disk's fsync rate; each row is visible at its commit all the same
        exec(w, "SET synchronous_commit = off");
        prepare(w, "ins", "INSERT INTO items (id, category, category10, embedding) VALUES ($1, $2, $3, $4)",
                {kInt4Oid, kInt4Oid, kInt4Oid, vector_oid});
        ready = true;
        auto t0 = Clock::now();
        for (; inserted < most; inserted++) {
            std::this_thread::sleep_until(t0 + std::chrono::duration<double>(double(inserted) / kInsertRate));
            if (stop) break;
            uint32_t id = first + uint32_t(inserted);
            std::string p[4] = {int4(id), int4(id % 100), int4(id % 10), vector_param(data.row(id))};
            run(w, "ins", {&p[0], &p[1], &p[2], &p[3]});
        }
        insert_s = seconds(t0);
        PQfinish(w);
    });
    while (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    Measured during = measure(true);
    stop = true;
    inserter.join();
    report("kyrodb-cache-on-inserts", during, double(inserted) / insert_s);

    exec(c, "DELETE FROM items WHERE id >= " + std::to_string(first));
    exec(c, "VACUUM items");
    exec(c, "SELECT kyrodb_flush('items_idx')");
    data.rows.resize(data.n * data.dim);
    exec(c, "SELECT kyrodb_cache_reset()");  // the phases after this one find no entries it made
    swap_queries();
}

void phase_insert(PGconn *c) {
    require(c, "insert", true);
    if (data.nrows() != data.n) die("phase insert needs the table as loaded (it holds the inserted rows already): run load,build first");
    grow();  // in memory only, for now: the vectors to insert are rows n+1..n+2*kInsert
    const uint32_t first = uint32_t(data.n) + 1;

    // single-row INSERTs, parameters encoded before the clock starts
    prepare(c, "ins", "INSERT INTO items (id, category, category10, embedding) VALUES ($1, $2, $3, $4)",
            {kInt4Oid, kInt4Oid, kInt4Oid, vector_oid});
    std::vector<std::string> p(4 * kInsert);
    for (std::size_t i = 0; i < kInsert; i++) {
        uint32_t id = first + uint32_t(i);
        p[4 * i] = int4(id), p[4 * i + 1] = int4(id % 100), p[4 * i + 2] = int4(id % 10);
        p[4 * i + 3] = vector_param(data.row(id));
    }
    // The first half waits for each statement's answer; the second half sends each transaction's
    // statements in one pipeline (libpq pipeline mode, the same single-row INSERTs), so that what
    // it measures is the server's work rather than one network round trip per row.
    constexpr std::size_t kHalf = kInsert / 2;
    auto insert_rows = [&](const char *statement) {
        auto t0 = Clock::now();
        for (std::size_t i = 0; i < kHalf; i++) {
            if (i % kInsertTxn == 0) exec(c, "BEGIN");
            run(c, statement, {&p[4 * i], &p[4 * i + 1], &p[4 * i + 2], &p[4 * i + 3]});
            if (i % kInsertTxn == kInsertTxn - 1 || i + 1 == kHalf) exec(c, "COMMIT");
        }
        return seconds(t0);
    };
    auto insert_pipelined = [&](const char *statement) {
        static const int formats[4] = {1, 1, 1, 1};
        auto t0 = Clock::now();
        if (PQenterPipelineMode(c) != 1) die(std::string("pipeline mode: ") + PQerrorMessage(c));
        for (std::size_t from = kHalf; from < kInsert; from += kInsertTxn) {
            const std::size_t to = std::min(kInsert, from + kInsertTxn);
            bool sent = PQsendQueryParams(c, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
            for (std::size_t i = from; i < to && sent; i++) {
                const char *vals[4] = {p[4 * i].data(), p[4 * i + 1].data(), p[4 * i + 2].data(), p[4 * i + 3].data()};
                const int lens[4] = {int(p[4 * i].size()), int(p[4 * i + 1].size()), int(p[4 * i + 2].size()),
                                     int(p[4 * i + 3].size())};
                sent = PQsendQueryPrepared(c, statement, 4, vals, lens, formats, 1) == 1;
            }
            sent = sent && PQsendQueryParams(c, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
            if (!sent || PQpipelineSync(c) != 1) die(std::string("pipeline send: ") + PQerrorMessage(c));
            // BEGIN, the INSERTs, COMMIT: each a result then a null; then the sync's result.
            for (std::size_t k = 0; k < to - from + 2; k++) {
                PGresult *r = PQgetResult(c);
                if (r == nullptr || PQresultStatus(r) != PGRES_COMMAND_OK)
                    die(std::string("pipelined ") + statement + ": " + (r ? PQresultErrorMessage(r) : PQerrorMessage(c)));
                PQclear(r);
                if (PQgetResult(c) != nullptr) die("pipeline: more than one result for a statement");
            }
            PGresult *r = PQgetResult(c);
            if (r == nullptr || PQresultStatus(r) != PGRES_PIPELINE_SYNC) die("pipeline: no sync");
            PQclear(r);
        }
        if (PQexitPipelineMode(c) != 1) die(std::string("pipeline exit: ") + PQerrorMessage(c));
        return seconds(t0);
    };
    double insert_s = insert_rows("ins"), pipelined_s = insert_pipelined("ins");

    // The background flushes the inserts above started would take CPU from the COPY (and from the
    // reference below): let them end. The COPY's own flushes run beside it: they are its cost.
    exec(c, "SELECT kyrodb_flush('items_idx')");
    std::string stream = copy_binary(first + kInsert, kInsert, data.row(first + kInsert));
    double copy_s = copy_in(c, "items", stream, true);
    // Reference: the same INSERTs and COPY into a table holding the same rows with the same primary
    // key, only without the kyrodb index, so that the difference is the index's cost.
    exec(c, "SELECT kyrodb_flush('items_idx')");
    exec(c, "DROP TABLE IF EXISTS items_noindex");
    exec(c, "CREATE TABLE items_noindex (LIKE items) WITH (autovacuum_enabled = off)");
    exec(c, "ALTER TABLE items_noindex ADD PRIMARY KEY (id)");
    exec(c, "INSERT INTO items_noindex SELECT * FROM items WHERE id < " + std::to_string(first));
    prepare(c, "ins_noindex", "INSERT INTO items_noindex (id, category, category10, embedding) VALUES ($1, $2, $3, $4)",
            {kInt4Oid, kInt4Oid, kInt4Oid, vector_oid});
    double noindex_insert_s = insert_rows("ins_noindex"), noindex_pipelined_s = insert_pipelined("ins_noindex");
    p.clear();
    double noindex_s = copy_in(c, "items_noindex", stream, true);
    exec(c, "DROP TABLE items_noindex");
    emit("insert", "kyrodb-insert", 0, 1, "rows_per_s", kHalf / insert_s);
    emit("insert", "noindex-insert", 0, 1, "rows_per_s", kHalf / noindex_insert_s);
    emit("insert", "kyrodb-insert-pipelined", 0, 1, "rows_per_s", (kInsert - kHalf) / pipelined_s);
    emit("insert", "noindex-insert-pipelined", 0, 1, "rows_per_s", (kInsert - kHalf) / noindex_pipelined_s);
    emit("insert", "kyrodb-copy", 0, 1, "rows_per_s", kInsert / copy_s);
    emit("insert", "noindex-copy", 0, 1, "rows_per_s", kInsert / noindex_s);
    fprintf(stderr, "insert: INSERT %.0f rows/s (without kyrodb index: %.0f rows/s), pipelined %.0f rows/s (without: "
                    "%.0f), COPY %.0f rows/s (without kyrodb index: %.0f rows/s); kyrodb_index_stats %s\n",
            kHalf / insert_s, kHalf / noindex_insert_s, (kInsert - kHalf) / pipelined_s,
            (kInsert - kHalf) / noindex_pipelined_s, kInsert / copy_s, kInsert / noindex_s,
            value(c, "SELECT kyrodb_index_stats('items_idx')::text").c_str());

    const Truth &t = truth();
    prepare_knn(c, kDefaultEf);
    Run r = run_queries(c, "knn", first_queries(data.nq), t);
    emit_run("insert", "kyrodb", kDefaultEf, r);
    fprintf(stderr, "  after insert (%zu rows, ef %d): recall %.4f, %.0f qps, p50 %.2f p99 %.2f ms\n", data.nrows(),
            kDefaultEf, r.recall(), r.qps(), r.ms(0.5), r.ms(0.99));

    // The inserted rows sit in the hot tier, scanned exactly by every query, until a flush (VACUUM
    // over kyrodb.flush_threshold, or kyrodb_flush) builds them into a segment.
    auto t1 = Clock::now();
    exec(c, "SELECT kyrodb_flush('items_idx')");
    double flush_s = seconds(t1);
    // This backend reads the new segment's image on its first query: a warm-up, as for a new connection.
    run_queries(c, "knn", first_queries(std::min<std::size_t>(data.nq, 100)), t);
    r = run_queries(c, "knn", first_queries(data.nq), t);
    emit("insert", "kyrodb-flush", 0, 1, "seconds", flush_s);
    emit_run("insert", "kyrodb-flushed", kDefaultEf, r);
    fprintf(stderr, "  after kyrodb_flush (%.1f s; %s): recall %.4f, %.0f qps, p50 %.2f p99 %.2f ms\n", flush_s,
            value(c, "SELECT kyrodb_index_stats('items_idx')::text").c_str(), r.recall(), r.qps(), r.ms(0.5),
            r.ms(0.99));
}

// Queries against the hot tier's fill level (the rows inserted since the last flush, which every
// query scans exactly): the index flushed, then rows of the insert phase's set COPYed in up to 25,
// 50 and 100 % of the flush threshold (kyrodb.flush_threshold rows or kyrodb.flush_threshold_size
// of vectors, whichever is fewer; 100 %: one row short, since reaching it starts a flush);
// after each step, queries at ef_search 40 on one connection (recall@10 over base and hot rows).
// The rows are deleted, vacuumed and flushed away at the end.
void phase_hot(PGconn *c) {
    require(c, "hot", true);
    if (data.nrows() != data.n) die("phase hot needs the table as loaded: run load,build first");
    grow();
    const std::vector<float> extra(data.rows.begin() + long(data.n * data.dim), data.rows.end());
    data.rows.resize(data.n * data.dim);
    const uint32_t first = uint32_t(data.n) + 1;
    exec(c, "SELECT kyrodb_flush('items_idx')");
    // rows, or kyrodb.flush_threshold_size of vectors, whichever is fewer rows
    const std::size_t threshold =
        std::min<std::size_t>(std::stoull(value(c, "SHOW kyrodb.flush_threshold")),
                              std::stoull(value(c, "SELECT setting FROM pg_settings WHERE name = 'kyrodb.flush_threshold_size'")) *
                                  1024 / (data.dim * sizeof(float)));
    prepare_knn(c, kDefaultEf);
    std::size_t have = 0;
    for (int pct : {0, 25, 50, 100}) {
        std::size_t want = pct == 100 ? threshold - 1 : threshold * std::size_t(pct) / 100;
        want = std::min(want, extra.size() / data.dim);
        if (want > have) {
            copy_in(c, "items", copy_binary(first + uint32_t(have), want - have, &extra[have * data.dim]), true);
            data.rows.insert(data.rows.end(), extra.begin() + long(have * data.dim), extra.begin() + long(want * data.dim));
            have = want;
        }
        std::string hot = value(c, "SELECT hot_rows FROM kyrodb_index_stats('items_idx')");
        Truth t = brute_force(data, kK, [](std::size_t, uint32_t) { return true; });
        // One untimed pass first: this connection's first touches of the pool and heap pages
        // would otherwise be charged to the empty hot tier.
        if (pct == 0) run_queries(c, "knn", first_queries(data.nq), t, nullptr, 0);
        Run r = run_queries(c, "knn", first_queries(data.nq), t);
        std::string system = "kyrodb-hot-" + std::to_string(pct) + "pct";
        emit_run("hot", system.c_str(), kDefaultEf, r);
        fprintf(stderr, "hot tier %3d %% of %zu (%s rows in it): recall %.4f, %.0f qps, p50 %.2f p99 %.2f ms\n", pct,
                threshold, hot.c_str(), r.recall(), r.qps(), r.ms(0.5), r.ms(0.99));
    }
    exec(c, "DELETE FROM items WHERE id >= " + std::to_string(first));
    exec(c, "VACUUM items");
    exec(c, "SELECT kyrodb_flush('items_idx')");
    data.rows.resize(data.n * data.dim);
}

// Reads as the table grows: issue 10 asks that after growing a freshly built index by 10, 50 and
// 100 % in batches of 1,000 rows, QPS at recall@10 >= 0.95 stays at least 0.8x that of an index
// built from scratch over the same rows. Synthetic rows (seed 3) are COPYed in 1,000-row batches,
// then kyrodb_flush (which merges as the background would); at each step the queries run at
// ef_search 10..160 on items_idx, and on an index built afresh over a copy of the table
// (items_fresh). The added rows are deleted, vacuumed and flushed away at the end.
void phase_grow(PGconn *c) {
    require(c, "grow", true);
    if (data.nrows() != data.n) die("phase grow needs the table as loaded: run load,build first");
    if (data.name != "synthetic") die("phase grow needs --dataset synthetic");
    const std::size_t n = data.n;
    const std::vector<float> extra = synthetic(n, data.dim, 3);
    const uint32_t first = uint32_t(n) + 1;
    const std::string opclass = data.metric == Metric::L2 ? "vector_l2_ops" : "vector_cosine_ops";
    const char *op = data.metric == Metric::L2 ? "<->" : "<=>";
    prepare_knn(c, kDefaultEf);
    std::size_t added = 0;
    bool fresh_prepared = false;
    for (int pct : {10, 50, 100}) {
        const std::size_t target = n * std::size_t(pct) / 100;
        for (; added < target;) {
            std::size_t count = std::min<std::size_t>(1000, target - added);
            copy_in(c, "items", copy_binary(first + uint32_t(added), count, &extra[added * data.dim]), true);
            data.rows.insert(data.rows.end(), extra.begin() + long(added * data.dim),
                             extra.begin() + long((added + count) * data.dim));
            added += count;
        }
        exec(c, "SELECT kyrodb_flush('items_idx')");
        const std::string segments = value(c, "SELECT segments FROM kyrodb_index_stats('items_idx')");
        const Truth t = brute_force(data, kK, [](std::size_t, uint32_t) { return true; });

        if (fresh_prepared) exec(c, "DEALLOCATE knn_fresh");
        exec(c, "DROP TABLE IF EXISTS items_fresh");
        exec(c, "CREATE TABLE items_fresh AS SELECT * FROM items");
        exec(c, "SET maintenance_work_mem = '" + opt.build_mem + "'");
        exec(c, "CREATE INDEX items_fresh_idx ON items_fresh USING kyrodb (embedding " + opclass +
                    ") WITH (m = 16, ef_construction = 64, quantization = '" + opt.quantization + "')");
        exec(c, "RESET maintenance_work_mem");
        exec(c, "SELECT kyrodb_prewarm('items_fresh_idx')");
        prepare(c, "knn_fresh", std::string("SELECT id FROM items_fresh ORDER BY embedding ") + op + " $1 LIMIT 10",
                {vector_oid});
        fresh_prepared = true;
        // Autovacuum would start on the fresh copy of the table during the sweeps: vacuum both
        // first. The copy, the build and the vacuum leave gigabytes of dirty buffers: a
        // checkpoint writing them out beside the timed queries made QPS swing 3x between
        // neighbouring ef_search steps. Then one untimed pass over each index at the widest
        // ef_search of the sweep, so that neither pays its first touches of heap and pool pages
        // (see warm_pass).
        exec(c, "VACUUM ANALYZE items");
        exec(c, "VACUUM ANALYZE items_fresh");
        exec(c, "CHECKPOINT");
        // The two indexes alternate at each ef_search, so that the VM's slow drifts hit both
        // alike, and the grid is swept five times, each figure the median of its five runs, so
        // that a burst of noise on one run does not decide a ratio; the ef steps are fine enough
        // that "the best QPS at recall >= 0.95" is not decided by where a coarse step falls.
        const std::vector<int> efs = {10, 20, 30, 40, 50, 60, 80, 100, 120, 160};
        exec(c, "SET kyrodb.ef_search = " + std::to_string(efs.back()));
        for (const char *stmt : {"knn", "knn_fresh"}) run_queries(c, stmt, first_queries(data.nq), t, nullptr, 0);
        const char *stmts[2] = {"knn", "knn_fresh"};
        constexpr int kSweeps = 5;
        std::vector<Run> runs[2][kSweeps];
        for (int sweep = 0; sweep < kSweeps; sweep++)
            for (int ef : efs) {
                exec(c, "SET kyrodb.ef_search = " + std::to_string(ef));
                for (int k = 0; k < 2; k++) runs[k][sweep].push_back(run_queries(c, stmts[k], first_queries(data.nq), t));
            }
        auto median = [&](int k, std::size_t e, const std::function<double(const Run &)> &figure) {
            std::vector<double> v;
            for (int sweep = 0; sweep < kSweeps; sweep++) v.push_back(figure(runs[k][sweep][e]));
            std::nth_element(v.begin(), v.begin() + kSweeps / 2, v.end());
            return v[kSweeps / 2];
        };
        double best[2] = {0, 0};
        for (std::size_t e = 0; e < efs.size(); e++)
            for (int k = 0; k < 2; k++) {
                const Run &r0 = runs[k][0][e];
                const double qps = median(k, e, [](const Run &r) { return r.qps(); });
                const double p99 = median(k, e, [](const Run &r) { return r.ms(0.99); });
                std::string system = std::string(k == 0 ? "kyrodb-grown-" : "kyrodb-fresh-") + std::to_string(pct) + "pct";
                emit("grow", system.c_str(), efs[e], 1, "recall@10", r0.recall());
                emit("grow", system.c_str(), efs[e], 1, "qps", qps);
                emit("grow", system.c_str(), efs[e], 1, "p99_ms", p99);
                if (r0.recall() >= 0.95) best[k] = std::max(best[k], qps);
                std::string all;
                for (int sweep = 0; sweep < kSweeps; sweep++)
                    all += (sweep ? " " : "") + std::to_string(int(std::lround(runs[k][sweep][e].qps())));
                fprintf(stderr, "  %s ef %3d: recall %.4f, %.0f qps (runs %s), p99 %.2f ms\n", system.c_str(), efs[e],
                        r0.recall(), qps, all.c_str(), p99);
            }
        emit("grow", ("kyrodb-grown-" + std::to_string(pct) + "pct").c_str(), 0, 1, "qps_at_recall_095_vs_fresh",
             best[1] > 0 ? best[0] / best[1] : NAN);
        fprintf(stderr, "grow +%d %% (%zu rows, %s segments): best QPS at recall@10 >= 0.95 %.0f, fresh index %.0f: %.2fx\n",
                pct, data.nrows(), segments.c_str(), best[0], best[1], best[1] > 0 ? best[0] / best[1] : NAN);
    }
    exec(c, "DEALLOCATE knn_fresh");
    exec(c, "DROP TABLE items_fresh");
    exec(c, "RESET kyrodb.ef_search");
    exec(c, "DELETE FROM items WHERE id >= " + std::to_string(first));
    exec(c, "VACUUM items");
    exec(c, "SELECT kyrodb_flush('items_idx')");
    data.rows.resize(n * data.dim);
}

// Queries beside a bulk load: the latency of queries at ef_search 40 on one connection while another
// connection COPYs 10 x 50,000 rows (the insert phase's first 50,000 vectors under new ids; the
// streams encoded before the clock starts) into the table, against the same queries just before.
// The rows are deleted, vacuumed and flushed away at the end.
void phase_copyload(PGconn *c) {
    require(c, "copyload", true);
    if (data.nrows() != data.n) die("phase copyload needs the table as loaded: run load,build first");
    grow();
    const uint32_t first = uint32_t(data.n) + 1;
    constexpr int kBatches = 10;
    std::vector<std::string> streams;
    for (int b = 0; b < kBatches; b++)
        streams.push_back(copy_binary(first + uint32_t(b * kInsert), kInsert, data.row(first)));
    data.rows.resize(data.n * data.dim);
    prepare_knn(c, kDefaultEf);
    warm_pass(c, "copyload", first_queries(data.nq), base_truth);
    Run idle = run_queries(c, "knn", first_queries(data.nq), base_truth);
    std::atomic<bool> done{false};
    double copy_s = 0;
    std::thread loader([&] {
        PGconn *l = connect();
        auto t0 = Clock::now();
        for (const std::string &stream : streams) copy_in(l, "items", stream, true);
        copy_s = seconds(t0);
        done = true;
        PQfinish(l);
    });
    Run during;
    auto t0 = Clock::now();
    for (std::size_t i = 0; !done; i++) during.lat.push_back(run(c, "knn", {&qparam[i % data.nq]}));
    during.wall = seconds(t0);
    loader.join();
    // How long the background worker needs after the COPY: until the hot tier is under the flush
    // threshold, and until flushes and merges stop (the directory unchanged for 3 s).
    const std::size_t threshold =
        std::min<std::size_t>(std::stoull(value(c, "SHOW kyrodb.flush_threshold")),
                              std::stoull(value(c, "SELECT setting FROM pg_settings WHERE name = 'kyrodb.flush_threshold_size'")) *
                                  1024 / (data.dim * sizeof(float)));
    auto after = Clock::now();
    double flushed_s = -1, settled_s = 0;
    std::string generation, segments;
    for (auto stable = Clock::now();; usleep(100000)) {
        std::string g = value(c, "SELECT generation FROM kyrodb_index_stats('items_idx')");
        if (flushed_s < 0 && std::stoull(value(c, "SELECT hot_rows FROM kyrodb_index_stats('items_idx')")) < threshold)
            flushed_s = seconds(after);
        if (g != generation) {
            generation = g;
            stable = Clock::now();
            settled_s = seconds(after);
        } else if (flushed_s >= 0 && seconds(stable) >= 3) {
            break;
        }
    }
    segments = value(c, "SELECT segments FROM kyrodb_index_stats('items_idx')");
    emit_run("copyload", "kyrodb-idle", kDefaultEf, idle);
    emit_run("copyload", "kyrodb-during-copy", kDefaultEf, during, false);
    emit("copyload", "kyrodb-during-copy", kDefaultEf, 1, "p90_ms", during.ms(0.9));
    emit("copyload", "kyrodb-during-copy", kDefaultEf, 1, "p999_ms", during.ms(0.999));
    emit("copyload", "kyrodb-during-copy", kDefaultEf, 1, "max_ms", during.ms(1.0));
    emit("copyload", "kyrodb-copy", 0, 1, "rows_per_s", kBatches * kInsert / copy_s);
    emit("copyload", "kyrodb-after-copy", 0, 1, "flushed_s", flushed_s);
    emit("copyload", "kyrodb-after-copy", 0, 1, "settled_s", settled_s);
    fprintf(stderr, "copyload: queries idle %.0f qps, p50 %.2f p99 %.2f ms; beside a COPY of %d rows (%.0f rows/s): "
                    "%zu queries, %.0f qps, p50 %.2f p90 %.2f p99 %.2f p99.9 %.1f max %.1f ms; after it, the hot tier under %zu "
                    "rows in %.1f s, the last flush or merge at %.1f s (%s segments)\n",
            idle.qps(), idle.ms(0.5), idle.ms(0.99), kBatches * int(kInsert), kBatches * kInsert / copy_s,
            during.lat.size(), during.qps(), during.ms(0.5), during.ms(0.9), during.ms(0.99), during.ms(0.999),
            during.ms(1.0), threshold, flushed_s, settled_s, segments.c_str());
    exec(c, "DELETE FROM items WHERE id >= " + std::to_string(first));
    exec(c, "VACUUM items");
    exec(c, "SELECT kyrodb_flush('items_idx')");
}

// Queries while a segment is rewritten: rows the insert phase added are deleted so that the segment
// holding them is half dead, and VACUUM tombstones them and rebuilds that segment without them (a
// merge, building a new graph) while this connection keeps querying. If the insert phase's flush
// merged everything into one segment (small base), all added rows go, else the COPYed half of them
// (their own segment). Latency during VACUUM against latency in the same state just before it (rows
// deleted, not yet vacuumed); recall over the remaining rows after.
void phase_merge(PGconn *c) {
    require(c, "merge", true);
    if (data.nrows() == data.n) die("phase merge needs the rows of the insert phase: run insert first");
    const std::size_t kept = value(c, "SELECT segments FROM kyrodb_index_stats('items_idx')") == "1" ? 0 : kInsert;
    PGconn *m = connect();
    exec(m, "DELETE FROM items WHERE id > " + std::to_string(data.n + kept));
    data.rows.resize((data.n + kept) * data.dim);  // the truth follows the table
    grown_truth = Truth();
    std::string stats_before = value(c, "SELECT kyrodb_index_stats('items_idx')::text");

    prepare_knn(c, kDefaultEf);
    std::vector<std::size_t> all = first_queries(data.nq);
    for (std::size_t i = 0; i < std::min(kWarmup, all.size()); i++) run(c, "knn", {&qparam[all[i]]});
    Run before;
    auto t0 = Clock::now();
    for (std::size_t i = 0; seconds(t0) < 5.0; i++) before.lat.push_back(run(c, "knn", {&qparam[all[i % all.size()]]}));
    before.wall = seconds(t0);

    std::atomic<bool> done{false};
    double vacuum_s = 0;
    std::thread merger([&] {
        auto t = Clock::now();
        exec(m, "VACUUM items");
        vacuum_s = seconds(t);
        done = true;
    });
    Run during;
    t0 = Clock::now();
    for (std::size_t i = 0; !done; i++) during.lat.push_back(run(c, "knn", {&qparam[all[i % all.size()]]}));
    during.wall = seconds(t0);
    merger.join();
    PQfinish(m);
    std::string stats_after = value(c, "SELECT kyrodb_index_stats('items_idx')::text");
    Run after = run_queries(c, "knn", all, truth());
    emit_run("merge", "kyrodb-before", kDefaultEf, before, false);  // mixed queries, not scored
    emit_run("merge", "kyrodb-during", kDefaultEf, during, false);
    emit("merge", "kyrodb-vacuum", 0, 1, "seconds", vacuum_s);
    emit("merge", "kyrodb-after", kDefaultEf, 1, "recall@10", after.recall());
    emit("merge", "kyrodb-after", kDefaultEf, 1, "qps", after.qps());
    emit("merge", "kyrodb-after", kDefaultEf, 1, "p99_ms", after.ms(0.99));
    fprintf(stderr, "merge: VACUUM after deleting %zu inserted rows took %.1f s (%s -> %s)\n"
                    "  queries before: %.0f qps, p50 %.2f p99 %.2f ms; during: %.0f qps, p50 %.2f p99 %.2f ms "
                    "(%zu queries); after: recall %.4f, %.0f qps, p99 %.2f ms\n",
            2 * kInsert - kept, vacuum_s, stats_before.c_str(), stats_after.c_str(), before.qps(), before.ms(0.5),
            before.ms(0.99), during.qps(), during.ms(0.5), during.ms(0.99), during.lat.size(), after.recall(),
            after.qps(), after.ms(0.99));
}

[[noreturn]] void usage() {
    die("usage: kyrodb_driver --conn CONNINFO [--dataset synthetic|fashion|minilm] [--n N] [--queries Q]\n"
        "                     [--phases load,build,search,filtered,hybrid,zipf,cache,insert,merge,hot,copyload,grow] [--data DIR]\n"
        "                     [--dim D] [--build-mem SIZE] [--quantization none|sq8] [--ef-construction N]");
}

}  // namespace

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (i + 1 >= argc) usage();
        std::string v = argv[++i];
        if (a == "--conn") opt.conn = v;
        else if (a == "--dataset") opt.dataset = v;
        else if (a == "--n") opt.n = std::strtoull(v.c_str(), nullptr, 10);
        else if (a == "--queries") opt.queries = std::strtoull(v.c_str(), nullptr, 10);
        else if (a == "--phases") opt.phases = v;
        else if (a == "--data") opt.data = v;
        else if (a == "--dim") opt.dim = std::strtoull(v.c_str(), nullptr, 10);
        else if (a == "--build-mem") opt.build_mem = v;
        else if (a == "--quantization") opt.quantization = v;
        else if (a == "--ef-construction") opt.ef_construction = std::stoi(v);
        else usage();
    }
    if (opt.conn.empty()) usage();
    std::vector<std::string> phases;
    for (std::size_t pos = 0; pos <= opt.phases.size();) {
        std::size_t comma = std::min(opt.phases.find(',', pos), opt.phases.size());
        phases.push_back(opt.phases.substr(pos, comma - pos));
        pos = comma + 1;
        const std::string &p = phases.back();
        if (p != "load" && p != "build" && p != "search" && p != "filtered" && p != "hybrid" && p != "zipf" && p != "cache" &&
            p != "insert" && p != "merge" && p != "hot" && p != "copyload" && p != "grow")
            die("unknown phase '" + p + "' (load, build, search, filtered, zipf, cache, insert, merge, hot, copyload, grow)");
    }

    PGconn *c = connect();  // first, to fail before the data is made
    try {
        auto t0 = Clock::now();
        load_data();
        compute_base_truth();
        fprintf(stderr, "%s: %zu rows x %zu dims (%s), %zu queries, kernels %s, data ready in %.1f s\n",
                data.name.c_str(), data.n, data.dim, metric_name(), data.nq, kyrodb::kernels().name, seconds(t0));
    } catch (const std::exception &e) {
        die(e.what());
    }
    if (opt.queries > 0 && opt.queries < data.nq) {  // the truth's rows for the first queries stay valid
        data.nq = opt.queries;
        data.queries.resize(data.nq * data.dim);
    }
    for (std::size_t q = 0; q < data.nq; q++) qparam.push_back(vector_param(data.query(q)));

    exec(c, "CREATE EXTENSION IF NOT EXISTS kyrodb");
    vector_oid = Oid(std::stoul(value(c, "SELECT 'vector'::regtype::oid")));
    for (const std::string &p : phases) {
        if (p == "load") {
            phase_load(c);
            // At 10 M the rows take 5 GB the build and the pool need; build and search score by the
            // truth's ids and distances instead.
            bool rows_needed = false;
            for (const std::string &later : phases) rows_needed |= later != "load" && later != "build" && later != "search";
            if (data.n > kLargeRows && !rows_needed) {
                std::vector<float>().swap(data.rows);
                rows_released = true;
            }
        }
        else if (p == "build") phase_build(c);
        else if (p == "search") phase_search(c);
        else if (p == "filtered") phase_filtered(c);
        else if (p == "hybrid") phase_hybrid(c);
        else if (p == "zipf") phase_zipf(c);
        else if (p == "cache") phase_cache(c);
        else if (p == "insert") phase_insert(c);
        else if (p == "hot") phase_hot(c);
        else if (p == "copyload") phase_copyload(c);
        else if (p == "grow") phase_grow(c);
        else phase_merge(c);
        // Each phase prepares its statements anew: start the next one from a clean session. RESET
        // ALL also puts kyrodb.cache back to its default (on): session_defaults turns it off again.
        exec(c, "DEALLOCATE ALL");
        exec(c, "RESET ALL");
        session_defaults(c);
    }
    PQfinish(c);
    return 0;
}
