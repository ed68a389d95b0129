// Unit tests of the result cache's access model: its layout over caller memory, the frequency
// sketch (upper bounds, decay), what the logistic model learns on stable and shifting synthetic
// traces, record() from several threads, and deterministic refits.
#include <gtest/gtest.h>

#include "zipf.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "kyrodb/access_model.h"

namespace {

using kyrodb::AccessModel;
using kyrodb::AccessModelParams;
using kyrodb::EntryUsage;

struct Model {
    explicit Model(const AccessModelParams &p)
        : memory(static_cast<uint8_t *>(std::aligned_alloc(64, (AccessModel::bytes_needed(p) + 63) / 64 * 64)),
                 std::free),
          model(AccessModel::create(memory.get(), p)) {}
    std::unique_ptr<uint8_t, void (*)(void *)> memory;
    AccessModel model;
};

AccessModelParams params(uint32_t capacity, uint64_t distinct_keys) {
    AccessModelParams p;
    p.capacity = capacity;
    p.distinct_keys = distinct_keys;
    return p;
}

using kyrodb_test::Zipf;

// Records a Zipf(1.0) stream over `n` keys (key = base + rank) with refits every 500 lookups, as
// the background worker would; returns each key's last access.
void zipf_stream(AccessModel &m, uint64_t *now, uint64_t requests, uint32_t n, uint64_t base, uint64_t seed,
                 std::vector<uint64_t> *last) {
    Zipf zipf(n, 1.0);
    std::mt19937_64 rng(seed);
    last->assign(n, 0);
    for (uint64_t i = 0; i < requests; i++) {
        uint32_t r = zipf(rng);
        ++*now;
        m.record(base + r, *now);
        (*last)[r] = *now;
        if (*now % 500 == 0) m.refit(*now);
    }
}

TEST(AccessModel, CreateAndAttachShareOneState) {
    AccessModelParams p = params(100, 4096);
    Model a(p);
    EXPECT_GE(AccessModel::bytes_needed(p), 4096u);  // at least one byte per row counter
    for (uint64_t now = 1; now <= 30; now++) a.model.record(now % 3, now);
    AccessModel b = AccessModel::attach(a.memory.get());
    EXPECT_EQ(b.estimate(0), 10u);
    EXPECT_EQ(b.params().capacity, 100u);
    EXPECT_GT(b.params().horizon, 0u);
    b.record(0, 31);  // one state: a record through either view shows in both
    EXPECT_EQ(a.model.estimate(0), 11u);
    EXPECT_FALSE(a.model.stats().trained);
}

TEST(AccessModel, SketchNeverUnderCounts) {
    AccessModelParams p = params(100, 2048);
    p.decay_period = 1u << 30;
    p.recent_period = 1u << 30;
    Model m(p);
    // 4,000 keys in a sketch sized for 2,048: collisions, yet no key is ever under-counted.
    std::vector<uint32_t> truth(4000);
    std::mt19937_64 rng(3);
    uint64_t now = 0;
    for (int i = 0; i < 60000; i++) {
        uint32_t k = uint32_t(rng() % 4000) & uint32_t(rng() % 4000);  // skewed towards small keys
        m.model.record(k, ++now);
        truth[k]++;
    }
    uint64_t over = 0;
    for (uint32_t k = 0; k < truth.size(); k++) {
        ASSERT_GE(m.model.estimate(k), std::min<uint32_t>(truth[k], 255)) << "key " << k;
        over += m.model.estimate(k) - std::min<uint32_t>(truth[k], 255);
    }
    EXPECT_LT(double(over) / truth.size(), 3.0);  // conservative update keeps the excess small
}

TEST(AccessModel, DecayHalvesEveryPeriod) {
    AccessModelParams p = params(100, 4096);
    p.decay_period = 1000;
    Model m(p);
    for (uint64_t now = 1; now <= 101; now++) m.model.record(7, now);
    EXPECT_EQ(m.model.estimate(7), 101u);
    EXPECT_EQ(m.model.stats().decays, 0u);
    m.model.record(8, 1000);
    EXPECT_EQ(m.model.estimate(7), 50u);
    EXPECT_EQ(m.model.stats().decays, 1u);
    m.model.record(8, 1500);  // not yet due again
    EXPECT_EQ(m.model.estimate(7), 50u);
    m.model.record(8, 2000);
    EXPECT_EQ(m.model.estimate(7), 25u);
    EXPECT_EQ(m.model.stats().decays, 2u);
}

TEST(AccessModel, PriorRanksByFrequencyThenRecency) {
    Model m(params(100, 4096));
    for (uint64_t now = 1; now <= 5; now++) m.model.record(1, now);
    m.model.record(2, 6);
    m.model.record(3, 7);
    EntryUsage often{1, 1, 5, 4}, once{2, 6, 6, 0}, once_later{3, 7, 7, 0};
    EXPECT_GT(m.model.value(often, 100), m.model.value(once, 100));
    EXPECT_GT(m.model.value(once_later, 100), m.model.value(once, 100));
    EXPECT_FALSE(m.model.admit(2, often, 100));
}

TEST(AccessModel, LearnsAStableHotSet) {
    Model m(params(100, 10000));
    uint64_t now = 0;
    std::vector<uint64_t> last;
    zipf_stream(m.model, &now, 100000, 10000, 0, 11, &last);
    auto s = m.model.stats();
    ASSERT_TRUE(s.trained);
    EXPECT_GT(s.refits, 0u);
    EXPECT_GT(s.samples_resolved, s.positives);
    EXPECT_GT(s.positives, 0u);
    EXPECT_GT(s.weights[1], 0.0);  // more often asked, more likely asked again

    // A key never seen before, asked once now, against each of the ten hottest keys.
    uint64_t one_off = 1u << 30;
    m.model.record(one_off, ++now);
    EntryUsage fresh{one_off, now, now, 0};
    for (uint64_t k = 0; k < 10; k++) {
        EntryUsage hot{k, 1, last[k], 50};
        EXPECT_GT(m.model.value(hot, now), m.model.value(fresh, now)) << "hot key " << k;
        EXPECT_FALSE(m.model.admit(one_off, hot, now)) << "hot key " << k;
    }
    // A hot key is admitted over a key of the tail.
    EntryUsage tail{9999, 1, last[9999], 0};
    m.model.record(0, ++now);
    EXPECT_TRUE(m.model.admit(0, tail, now));
}

TEST(AccessModel, FollowsAShiftingHotSet) {
    Model m(params(100, 10000));
    uint64_t now = 0;
    std::vector<uint64_t> last_a, last_b;
    zipf_stream(m.model, &now, 60000, 10000, 0, 21, &last_a);         // keys 0.. popular
    zipf_stream(m.model, &now, 5000, 10000, 1000000, 22, &last_b);    // then keys 1,000,000..
    ASSERT_TRUE(m.model.stats().trained);
    for (uint64_t k = 0; k < 10; k++) {
        EntryUsage old_hot{k, 1, last_a[k], 1000}, new_hot{1000000 + k, 60000, last_b[k], 20};
        for (uint64_t j = 0; j < 10; j++) {
            EntryUsage other_old{j, 1, last_a[j], 1000};
            EXPECT_GT(m.model.value(new_hot, now), m.model.value(other_old, now)) << k << " vs " << j;
        }
        m.model.record(1000000 + k, ++now);
        EXPECT_TRUE(m.model.admit(1000000 + k, old_hot, now)) << "new hot key " << k;
    }
}

TEST(AccessModel, ConcurrentRecordsKeepEstimatesBounded) {
    AccessModelParams p = params(100, 4096);
    p.decay_period = 1u << 30;
    p.recent_period = 1u << 30;
    Model m(p);
    constexpr int kThreads = 4, kKeys = 64, kRounds = 50;
    std::atomic<uint64_t> clock{0};
    std::atomic<bool> done{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([&, t] {
            for (int r = 0; r < kRounds; r++)
                for (uint64_t k = 0; k < kKeys; k++) {
                    m.model.record(k, clock.fetch_add(1) + 1);
                    m.model.record(1000000 + uint64_t(t) * 100000 + r * kKeys + k, clock.fetch_add(1) + 1);
                }
        });
    // The background worker's refit and a backend's value() beside the records.
    std::thread worker([&] {
        while (!done.load()) {
            m.model.refit(clock.load());
            EXPECT_GE(m.model.value(EntryUsage{1, 0, clock.load(), 0}, clock.load()), 0.0);
        }
    });
    for (auto &t : threads) t.join();
    done.store(true);
    worker.join();
    // Each shared key was recorded 200 times; a race loses an increment only now and then, and
    // then at most the other threads' concurrent ones.
    for (uint64_t k = 0; k < kKeys; k++) {
        EXPECT_GE(m.model.estimate(k), uint32_t(kRounds)) << "key " << k;
        EXPECT_LE(m.model.estimate(k), 255u) << "key " << k;
    }
    EXPECT_LE(m.model.estimate(999999), 8u);  // never recorded
}

TEST(AccessModel, RefitIsDeterministic) {
    Model a(params(100, 10000)), b(params(100, 10000));
    uint64_t now_a = 0, now_b = 0;
    std::vector<uint64_t> last;
    zipf_stream(a.model, &now_a, 30000, 10000, 0, 5, &last);
    zipf_stream(b.model, &now_b, 30000, 10000, 0, 5, &last);
    auto sa = a.model.stats(), sb = b.model.stats();
    ASSERT_TRUE(sa.trained);
    EXPECT_EQ(sa.refits, sb.refits);
    EXPECT_EQ(sa.samples_resolved, sb.samples_resolved);
    for (int k = 0; k < AccessModel::kFeatures; k++) EXPECT_EQ(sa.weights[k], sb.weights[k]) << "weight " << k;
    EntryUsage e{3, 1, now_a - 10, 2};
    EXPECT_EQ(a.model.value(e, now_a), b.model.value(e, now_b));
    // A different trace gives different weights: the test above would notice a refit that ignores its data.
    Model c(params(100, 10000));
    uint64_t now_c = 0;
    zipf_stream(c.model, &now_c, 30000, 10000, 0, 6, &last);
    EXPECT_NE(c.model.stats().weights[0], sa.weights[0]);
}

}  // namespace
