#include "kyrodb/access_model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <new>

namespace kyrodb {
namespace {

constexpr uint64_t kMagic = 0x6b79726f616d3031;  // "kyroam01"
constexpr std::size_t kAlign = 64;
constexpr uint32_t kCounterMax = 255;
constexpr uint64_t kHalveMask = 0x7f7f7f7f7f7f7f7f;
// Refits leave the prior in place until the samples hold this many of each label.
constexpr uint32_t kMinEachLabel = 32;
constexpr int kNewtonSteps = 8;
constexpr double kRidge = 1e-3;  // per sample, on the non-bias weights

std::size_t round_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

uint64_t next_pow2(uint64_t n) {
    uint64_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

// splitmix64's finaliser: callers' keys are hashes already, but tests and traces use small integers.
uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
    x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
    return x ^ (x >> 31);
}

// Two count-min sketches, one decayed slowly and one fast, share one 64-byte block per key: word
// 4 * sketch + row holds 8 byte counters of that sketch's row, of which the key's hash picks one.
struct SketchBlock {
    std::atomic<uint64_t> words[8];
};
enum Sketch { kSlow = 0, kFast = 1 };

struct Counter {
    int word;
    int shift;
};

Counter counter_of(uint64_t h, int sketch, int row) {
    return Counter{4 * sketch + row, 8 * int((h >> (3 * row + 12 * sketch)) & 7)};
}

// A key of the sampled 1/R of the key space. `key`, `last_access` and `returned` are the query
// path's (recorded times are stored as now + 1, so 0 means none); the rest is refit()'s.
struct TrackedKey {
    std::atomic<uint64_t> key;
    std::atomic<uint64_t> last_access;
    std::atomic<uint64_t> returned;  // first record after the pending snapshot
    uint64_t snapshot_key;
    uint64_t snapshot_at;            // 0: no snapshot pending
    uint64_t next_snapshot;
    float features[AccessModel::kFeatures];
};

struct Sample {
    float x[AccessModel::kFeatures];
    float label;
};

// Fitted by refit(); the counts of both sketches let it weigh lasting against recent popularity,
// and the idle time tells a key still asked from one whose popularity has moved on.
void features(AccessModel::Counts c, uint64_t idle, double *x) {
    x[0] = 1.0;
    x[1] = std::log2(1.0 + c.slow);
    x[2] = std::log2(1.0 + c.fast);
    x[3] = std::log2(1.0 + double(idle));
}

// Frequency first, recency to break ties.
constexpr double kPrior[AccessModel::kFeatures] = {0.0, 1.0, 0.0, -1.0 / 64};

}  // namespace

struct AccessModel::State {
    uint64_t magic;
    AccessModelParams params;
    uint64_t block_mask;       // sketch blocks - 1
    uint64_t track_mask;       // a key is tracked if its second hash & track_mask is 0
    std::size_t tracked_at, samples_at;  // offsets from this struct; the sketch follows it
    std::atomic<uint64_t> next_decay[2];  // per sketch
    std::atomic<uint64_t> decays;         // of the slow sketch
    // refit()'s, read by stats()
    std::atomic<uint64_t> samples_taken, samples_resolved, positives, refits;
    uint32_t sample_next, sample_count;
    // Two sets of weights: refit() writes the one not in use, then switches.
    std::atomic<uint32_t> current;
    std::atomic<bool> trained;
    std::atomic<double> weights[2][kFeatures];

    SketchBlock *sketch() { return reinterpret_cast<SketchBlock *>(reinterpret_cast<char *>(this) + round_up(sizeof(State))); }
    const SketchBlock *sketch() const { return const_cast<State *>(this)->sketch(); }
    TrackedKey *tracked() { return reinterpret_cast<TrackedKey *>(reinterpret_cast<char *>(this) + tracked_at); }
    Sample *samples() { return reinterpret_cast<Sample *>(reinterpret_cast<char *>(this) + samples_at); }

    static std::size_t tracked_offset(const AccessModelParams &p);
    static std::size_t samples_offset(const AccessModelParams &p);
};

namespace {

AccessModelParams derive(AccessModelParams p) {
    p.capacity = std::max<uint32_t>(p.capacity, 1);
    if (p.decay_period == 0) p.decay_period = 64 * uint64_t(p.capacity);
    if (p.recent_period == 0) p.recent_period = std::max<uint64_t>(p.decay_period / 8, 1);
    if (p.distinct_keys == 0) p.distinct_keys = p.decay_period;
    if (p.horizon == 0) p.horizon = 2 * uint64_t(p.capacity);
    if (p.tracked_keys == 0) p.tracked_keys = 4096;
    if (p.samples == 0) p.samples = 4096;
    return p;
}

// One row counter per distinct key, 16 per block.
uint64_t sketch_blocks(const AccessModelParams &p) { return std::max<uint64_t>(next_pow2(p.distinct_keys) / 8, 1); }

}  // namespace

std::size_t AccessModel::State::tracked_offset(const AccessModelParams &p) {
    return round_up(sizeof(State)) + sketch_blocks(p) * sizeof(SketchBlock);
}
std::size_t AccessModel::State::samples_offset(const AccessModelParams &p) {
    return tracked_offset(p) + round_up(sizeof(TrackedKey) * p.tracked_keys);
}

std::size_t AccessModel::bytes_needed(const AccessModelParams &params) {
    AccessModelParams p = derive(params);
    return State::samples_offset(p) + round_up(sizeof(Sample) * p.samples);
}

AccessModel AccessModel::create(void *memory, const AccessModelParams &params) {
    AccessModelParams p = derive(params);
    auto *s = new (memory) State();
    s->params = p;
    s->block_mask = sketch_blocks(p) - 1;
    // Track about as many distinct keys as there are slots.
    s->track_mask = std::max<uint64_t>(next_pow2(p.distinct_keys / p.tracked_keys), 1) - 1;
    s->tracked_at = State::tracked_offset(p);
    s->samples_at = State::samples_offset(p);
    s->next_decay[kSlow].store(p.decay_period);
    s->next_decay[kFast].store(p.recent_period);
    s->decays.store(0);
    s->samples_taken.store(0);
    s->samples_resolved.store(0);
    s->positives.store(0);
    s->refits.store(0);
    s->sample_next = s->sample_count = 0;
    s->current.store(0);
    s->trained.store(false);
    for (int k = 0; k < kFeatures; k++) s->weights[0][k].store(kPrior[k]), s->weights[1][k].store(kPrior[k]);
    for (uint64_t b = 0; b <= s->block_mask; b++) {
        SketchBlock *block = new (s->sketch() + b) SketchBlock();
        for (auto &w : block->words) w.store(0);
    }
    for (uint32_t i = 0; i < p.tracked_keys; i++) {
        TrackedKey *t = new (s->tracked() + i) TrackedKey();
        t->key.store(0);
        t->last_access.store(0);
        t->returned.store(0);
        t->snapshot_key = t->snapshot_at = t->next_snapshot = 0;
    }
    s->magic = kMagic;
    return AccessModel(s);
}

AccessModel AccessModel::attach(void *memory) { return AccessModel(static_cast<State *>(memory)); }

AccessModelParams AccessModel::params() const { return state_->params; }

AccessModel::Counts AccessModel::counts(uint64_t key) const {
    uint64_t h = mix(key);
    const SketchBlock &b = state_->sketch()[(h >> 32) & state_->block_mask];
    uint32_t m[2] = {kCounterMax, kCounterMax};
    for (int sketch : {kSlow, kFast})
        for (int row = 0; row < 4; row++) {
            Counter c = counter_of(h, sketch, row);
            m[sketch] = std::min<uint32_t>(m[sketch], (b.words[c.word].load(std::memory_order_relaxed) >> c.shift) & 0xff);
        }
    return Counts{m[kSlow], m[kFast]};
}

void AccessModel::record(uint64_t key, uint64_t now) {
    State &s = *state_;
    uint64_t h = mix(key);

    // Conservative update: only the counters at the minimum grow, which keeps the estimate an
    // upper bound of the true count while wasting less of the small counters on collisions.
    SketchBlock &b = s.sketch()[(h >> 32) & s.block_mask];
    for (int sketch : {kSlow, kFast}) {
        uint64_t words[4];
        uint32_t counts[4], m = kCounterMax;
        for (int row = 0; row < 4; row++) {
            Counter c = counter_of(h, sketch, row);
            words[row] = b.words[c.word].load(std::memory_order_relaxed);
            counts[row] = (words[row] >> c.shift) & 0xff;
            m = std::min(m, counts[row]);
        }
        if (m < kCounterMax)
            for (int row = 0; row < 4; row++)
                if (counts[row] == m) {
                    Counter c = counter_of(h, sketch, row);
                    b.words[c.word].store(words[row] + (uint64_t(1) << c.shift), std::memory_order_relaxed);
                }
    }

    // Whoever records first past a sketch's due time halves it, once per period.
    for (int sketch : {kSlow, kFast}) {
        uint64_t due = s.next_decay[sketch].load(std::memory_order_relaxed);
        uint64_t period = sketch == kSlow ? s.params.decay_period : s.params.recent_period;
        if (now < due || !s.next_decay[sketch].compare_exchange_strong(due, now + period)) continue;
        for (uint64_t i = 0; i <= s.block_mask; i++)
            for (int row = 0; row < 4; row++) {
                std::atomic<uint64_t> &w = s.sketch()[i].words[4 * sketch + row];
                w.store((w.load(std::memory_order_relaxed) >> 1) & kHalveMask, std::memory_order_relaxed);
            }
        if (sketch == kSlow) s.decays.fetch_add(1, std::memory_order_relaxed);
    }

    uint64_t h2 = mix(h);
    if ((h2 & s.track_mask) != 0) return;
    TrackedKey &t = s.tracked()[(h2 >> 32) % s.params.tracked_keys];
    uint64_t last = t.last_access.load(std::memory_order_relaxed);
    if (t.key.load(std::memory_order_relaxed) != key) {
        // Another key holds the slot: take it over only once that key has been idle for a few
        // horizons, so a key stays tracked long enough for its snapshots to be labelled.
        if (last != 0 && now + 1 - last <= 4 * s.params.horizon) return;
        t.key.store(key, std::memory_order_relaxed);
    } else if (t.returned.load(std::memory_order_relaxed) == 0) {
        t.returned.store(now + 1, std::memory_order_relaxed);
    }
    t.last_access.store(now + 1, std::memory_order_relaxed);
}

double AccessModel::predict(Counts count, uint64_t idle) const {
    const State &s = *state_;
    uint32_t cur = s.current.load(std::memory_order_acquire);
    double x[kFeatures], z = 0;
    features(count, idle, x);
    for (int k = 0; k < kFeatures; k++) z += s.weights[cur][k].load(std::memory_order_relaxed) * x[k];
    return z;
}

double AccessModel::value(const EntryUsage &entry, uint64_t now) const {
    uint64_t idle = now > entry.last_access ? now - entry.last_access : 0;
    return 1.0 / (1.0 + std::exp(-predict(counts(entry.key), idle)));
}

bool AccessModel::admit(uint64_t key, const EntryUsage &victim, uint64_t now) const {
    uint64_t idle = now > victim.last_access ? now - victim.last_access : 0;
    return predict(counts(key), 0) > predict(counts(victim.key), idle);
}

void AccessModel::refit(uint64_t now) {
    State &s = *state_;
    const AccessModelParams &p = s.params;

    // Label what can be labelled, then snapshot every tracked key whose turn has come (each key
    // once per horizon, whether hot or not, so the samples are the keys' states at random times).
    for (uint32_t i = 0; i < p.tracked_keys; i++) {
        TrackedKey &t = s.tracked()[i];
        uint64_t key = t.key.load(std::memory_order_relaxed);
        uint64_t last = t.last_access.load(std::memory_order_relaxed);
        if (last == 0) continue;
        if (t.snapshot_at != 0) {
            if (key != t.snapshot_key) {  // the slot changed hands: the snapshot cannot be labelled
                t.snapshot_at = 0;
            } else {
                uint64_t r = t.returned.load(std::memory_order_relaxed);
                bool back = r > t.snapshot_at + 1 && r - 1 - t.snapshot_at <= p.horizon;
                if (back || now - t.snapshot_at >= p.horizon) {
                    Sample &out = s.samples()[s.sample_next];
                    std::copy(t.features, t.features + kFeatures, out.x);
                    out.label = back ? 1.0f : 0.0f;
                    s.sample_next = (s.sample_next + 1) % p.samples;
                    s.sample_count = std::min(s.sample_count + 1, p.samples);
                    s.samples_resolved.fetch_add(1, std::memory_order_relaxed);
                    if (back) s.positives.fetch_add(1, std::memory_order_relaxed);
                    t.snapshot_at = 0;
                }
            }
        }
        if (t.snapshot_at == 0 && now >= t.next_snapshot) {
            double x[kFeatures];
            features(counts(key), now + 1 - last, x);
            std::copy(x, x + kFeatures, t.features);
            t.snapshot_key = key;
            t.snapshot_at = now;
            t.next_snapshot = now + p.horizon;
            t.returned.store(0, std::memory_order_relaxed);
            s.samples_taken.fetch_add(1, std::memory_order_relaxed);
        }
    }

    const Sample *samples = s.samples();
    uint32_t n = s.sample_count, pos = 0;
    for (uint32_t j = 0; j < n; j++) pos += samples[j].label > 0.5f;
    if (pos < kMinEachLabel || n - pos < kMinEachLabel) return;

    // Newton's method on the L2-regularised log-likelihood from the weights in use, each step
    // halved until the loss drops (a plain Newton step can overshoot far from the optimum).
    uint32_t cur = s.current.load(std::memory_order_relaxed);
    double w[kFeatures];
    for (int k = 0; k < kFeatures; k++) w[k] = s.weights[cur][k].load(std::memory_order_relaxed);
    auto loss = [&](const double *v) {
        double sum = 0;
        for (uint32_t j = 0; j < n; j++) {
            double z = 0;
            for (int k = 0; k < kFeatures; k++) z += v[k] * samples[j].x[k];
            // -log sigmoid(z) for a positive, -log(1 - sigmoid(z)) for a negative, overflow-free
            double m = samples[j].label > 0.5f ? -z : z;
            sum += m > 0 ? m + std::log1p(std::exp(-m)) : std::log1p(std::exp(m));
        }
        for (int k = 1; k < kFeatures; k++) sum += 0.5 * kRidge * n * v[k] * v[k];
        return sum;
    };
    double current_loss = loss(w);
    for (int step = 0; step < kNewtonSteps; step++) {
        double g[kFeatures] = {}, hess[kFeatures][kFeatures] = {};
        for (uint32_t j = 0; j < n; j++) {
            const Sample &e = samples[j];
            double z = 0;
            for (int k = 0; k < kFeatures; k++) z += w[k] * e.x[k];
            double q = 1.0 / (1.0 + std::exp(-z)), v = q * (1 - q);
            for (int k = 0; k < kFeatures; k++) {
                g[k] += (q - e.label) * e.x[k];
                for (int l = 0; l <= k; l++) hess[k][l] += v * e.x[k] * e.x[l];
            }
        }
        for (int k = 1; k < kFeatures; k++) g[k] += kRidge * n * w[k], hess[k][k] += kRidge * n;
        hess[0][0] += 1e-9 * n;
        // Solve hess * d = g by Cholesky (hess is symmetric positive definite; lower half filled).
        double L[kFeatures][kFeatures] = {}, y[kFeatures], d[kFeatures];
        for (int k = 0; k < kFeatures; k++) {
            for (int l = 0; l <= k; l++) {
                double sum = hess[k][l];
                for (int m = 0; m < l; m++) sum -= L[k][m] * L[l][m];
                L[k][l] = k == l ? std::sqrt(std::max(sum, 1e-12)) : sum / L[l][l];
            }
        }
        for (int k = 0; k < kFeatures; k++) {
            double sum = g[k];
            for (int m = 0; m < k; m++) sum -= L[k][m] * y[m];
            y[k] = sum / L[k][k];
        }
        for (int k = kFeatures - 1; k >= 0; k--) {
            double sum = y[k];
            for (int m = k + 1; m < kFeatures; m++) sum -= L[m][k] * d[m];
            d[k] = sum / L[k][k];
        }
        double t = 1, trial[kFeatures], trial_loss = current_loss;
        for (int halvings = 0; halvings < 20; halvings++, t /= 2) {
            for (int k = 0; k < kFeatures; k++) trial[k] = w[k] - t * d[k];
            trial_loss = loss(trial);
            if (trial_loss <= current_loss) break;
        }
        if (!(trial_loss <= current_loss)) break;
        double change = current_loss - trial_loss;
        std::copy(trial, trial + kFeatures, w);
        current_loss = trial_loss;
        if (change < 1e-6 * n) break;
    }
    for (int k = 0; k < kFeatures; k++)
        if (!std::isfinite(w[k])) return;
    for (int k = 0; k < kFeatures; k++) s.weights[1 - cur][k].store(w[k], std::memory_order_relaxed);
    s.current.store(1 - cur, std::memory_order_release);
    s.trained.store(true, std::memory_order_relaxed);
    s.refits.fetch_add(1, std::memory_order_relaxed);
}

ModelStats AccessModel::stats() const {
    const State &s = *state_;
    ModelStats out;
    out.decays = s.decays.load(std::memory_order_relaxed);
    out.samples_taken = s.samples_taken.load(std::memory_order_relaxed);
    out.samples_resolved = s.samples_resolved.load(std::memory_order_relaxed);
    out.positives = s.positives.load(std::memory_order_relaxed);
    out.refits = s.refits.load(std::memory_order_relaxed);
    out.trained = s.trained.load(std::memory_order_relaxed);
    uint32_t cur = s.current.load(std::memory_order_acquire);
    for (int k = 0; k < kFeatures; k++) out.weights[k] = s.weights[cur][k].load(std::memory_order_relaxed);
    return out;
}

}  // namespace kyrodb
