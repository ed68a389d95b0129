// The cost of a tail segment: base (1 M) + tail (100 k) searched as the scan does, against one
// segment over the same 1.1 M rows. Prints per ef: recall@10, us per query, visited nodes.
#include "driver_data.h"
#include "kyrodb/hnsw.h"
#include <chrono>
#include <cstdio>
#include <fstream>
#include <algorithm>
using namespace kyrodb;
using Clock = std::chrono::steady_clock;
static std::vector<uint8_t> load_or_build(const std::string &path, const float *v, std::size_t n, uint64_t first_payload) {
    std::ifstream f(path, std::ios::binary);
    if (f) { std::vector<uint8_t> img((std::istreambuf_iterator<char>(f)), {}); return img; }
    std::vector<uint64_t> pay(n); for (std::size_t i = 0; i < n; i++) pay[i] = first_payload + i;
    BuildParams p{Metric::L2, 128}; p.m = 16; p.ef_construction = 64;
    auto t0 = Clock::now();
    auto img = build_segment(p, v, pay.data(), n, nullptr);
    fprintf(stderr, "built %s: %zu rows in %.1f s\n", path.c_str(), n, std::chrono::duration<double>(Clock::now() - t0).count());
    std::ofstream o(path, std::ios::binary); o.write((const char *)img.data(), img.size());
    return img;
}
int main(int argc, char **argv) {
    const std::size_t nb = 1000000, nt = argc > 1 ? atol(argv[1]) : 100000, nq = 1000, dim = 128;
    auto base = kyrodb_bench::synthetic(nb, dim, 1);
    auto tail = kyrodb_bench::synthetic(nt, dim, 3);
    auto queries = kyrodb_bench::synthetic(nq, dim, 2);
    std::vector<float> all(base); all.insert(all.end(), tail.begin(), tail.end());
    auto ib = load_or_build("/tmp/tail/base.img", base.data(), nb, 0);
    auto it = load_or_build("/tmp/tail/tail" + std::to_string(nt) + ".img", tail.data(), nt, nb);
    auto iff = load_or_build("/tmp/tail/fresh" + std::to_string(nt) + ".img", all.data(), nb + nt, 0);
    SegmentView sb, st, sf;
    if (!SegmentView::open(ib.data(), ib.size(), &sb, nullptr) || !SegmentView::open(it.data(), it.size(), &st, nullptr) ||
        !SegmentView::open(iff.data(), iff.size(), &sf, nullptr)) { fprintf(stderr, "open failed\n"); return 1; }
    // truth: top 10 payloads over all rows
    std::vector<std::vector<uint64_t>> truth(nq);
    {
        Searcher s; std::vector<Neighbor> out;
        for (std::size_t q = 0; q < nq; q++) {
            s.exact(sf, &queries[q * dim], nullptr, &out);
            for (int k = 0; k < 10; k++) truth[q].push_back(sf.payload(out[k].id));
        }
    }
    Searcher s;
    std::vector<Neighbor> rb, rt, rf;
    for (int floor : {8, 4, 2})
    for (std::size_t ef : {20, 30, 40, 60}) {
        for (int rep = 0; rep < 3; rep++) {
            double hit_f = 0, hit_g = 0, us_f = 0, us_b = 0, us_t = 0, vis_f = 0, vis_b = 0, vis_t = 0;
            for (std::size_t q = 0; q < nq; q++) {
                const float *qv = &queries[q * dim];
                auto t0 = Clock::now();
                s.search(sf, qv, ef, nullptr, &rf);
                auto t1 = Clock::now();
                vis_f += s.visited();
                float r = s.search(sb, qv, ef, nullptr, &rb);
                auto t2 = Clock::now();
                vis_b += s.visited();
                std::size_t share = (ef * nt + nb - 1) / nb;
                std::size_t beam = std::min(ef, std::max<std::size_t>(share, floor));
                s.search(st, qv, ef, nullptr, &rt, r, beam);
                auto t3 = Clock::now();
                vis_t += s.visited();
                us_f += std::chrono::duration<double, std::micro>(t1 - t0).count();
                us_b += std::chrono::duration<double, std::micro>(t2 - t1).count();
                us_t += std::chrono::duration<double, std::micro>(t3 - t2).count();
                std::vector<std::pair<float, uint64_t>> m;
                for (auto &n : rb) m.push_back({n.distance, sb.payload(n.id)});
                for (auto &n : rt) m.push_back({n.distance, st.payload(n.id)});
                std::sort(m.begin(), m.end());
                for (int k = 0; k < 10 && k < (int)rf.size(); k++)
                    hit_f += std::count(truth[q].begin(), truth[q].end(), sf.payload(rf[k].id));
                for (int k = 0; k < 10 && k < (int)m.size(); k++)
                    hit_g += std::count(truth[q].begin(), truth[q].end(), m[k].second);
            }
            printf("floor %d ef %3zu rep %d: fresh recall %.4f %6.1f us %5.0f visited | grown recall %.4f base %6.1f us %5.0f vis + tail %6.1f us %5.0f vis (tail %.0f%% of the time)\n",
                   floor, ef, rep, hit_f / nq / 10, us_f / nq, vis_f / nq, hit_g / nq / 10, us_b / nq, vis_b / nq, us_t / nq, vis_t / nq,
                   100 * us_t / (us_b + us_t));
        }
    }
}
