#include "kyrodb/image_pool.h"

#include <algorithm>
#include <new>
#include <vector>

namespace kyrodb {
namespace {

std::size_t round_up(std::size_t n) { return (n + ImagePool::kAlign - 1) / ImagePool::kAlign * ImagePool::kAlign; }

}  // namespace

std::size_t ImagePool::slots_offset() { return round_up(sizeof(ImagePool)); }

std::size_t ImagePool::bytes_needed(std::size_t arena_bytes, uint32_t slots) {
    return slots_offset() + round_up(sizeof(PoolSlot) * slots) + round_up(arena_bytes);
}

ImagePool *ImagePool::create(void *memory, std::size_t arena_bytes, uint32_t slots) {
    auto *pool = new (memory) ImagePool();
    pool->arena_bytes_ = arena_bytes / kAlign * kAlign;
    pool->n_slots_ = slots;
    pool->arena_offset_ = slots_offset() + round_up(sizeof(PoolSlot) * slots);
    for (uint32_t i = 0; i < slots; i++) {
        PoolSlot *s = new (pool->slots() + i) PoolSlot();
        s->state = SlotState::Free;
        s->pins.store(0);
        s->last_used.store(0);
        s->doomed.store(false);
    }
    return pool;
}

int ImagePool::find(const PoolKey &key) const {
    for (uint32_t i = 0; i < slot_end_; i++)
        if (slot(i).state != SlotState::Free && slot(i).key == key) return int(i);
    return -1;
}

void ImagePool::pin(int i) {
    slot(i).pins.fetch_add(1, std::memory_order_acquire);
    slot(i).last_used.store(clock_.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// First fit among the gaps between occupied extents.
bool ImagePool::place(uint64_t size, uint64_t *offset) const {
    std::vector<std::pair<uint64_t, uint64_t>> used;
    for (uint32_t i = 0; i < slot_end_; i++)
        if (slot(i).state != SlotState::Free) used.emplace_back(slot(i).offset, slot(i).size);
    std::sort(used.begin(), used.end());
    uint64_t at = 0;
    for (const auto &u : used) {
        if (u.first >= at + size) break;
        at = std::max<uint64_t>(at, u.first + u.second);
    }
    if (at + size > arena_bytes_) return false;
    *offset = at;
    return true;
}

int ImagePool::evict_one() {
    int victim = -1;
    for (uint32_t i = 0; i < slot_end_; i++) {
        const PoolSlot &s = slot(i);
        if (s.state != SlotState::Ready || s.pins.load(std::memory_order_acquire) != 0) continue;
        if (victim < 0 || s.last_used.load(std::memory_order_relaxed) <
                              slot(victim).last_used.load(std::memory_order_relaxed))
            victim = int(i);
    }
    if (victim >= 0) {
        release(victim);
        counters_.evictions++;
    }
    return victim;
}

int ImagePool::reserve(const PoolKey &key, uint64_t size, int32_t loader, bool *too_big, bool may_evict) {
    size = round_up(std::max<uint64_t>(size, 1));
    *too_big = size > arena_bytes_;
    if (*too_big) {
        counters_.refused++;
        return -1;
    }
    uint64_t offset = 0;
    int free_slot = -1;
    for (;;) {
        if (free_slot < 0)
            for (uint32_t i = 0; i < n_slots_ && free_slot < 0; i++)
                if (slot(i).state == SlotState::Free) free_slot = int(i);
        if (free_slot >= 0 && place(size, &offset)) break;
        if (!may_evict || evict_one() < 0) {
            counters_.refused++;
            return -1;
        }
    }
    slot_end_ = std::max(slot_end_, uint32_t(free_slot) + 1);
    PoolSlot &s = slot(free_slot);
    s.key = key;
    s.offset = offset;
    s.size = size;
    s.incarnation = next_incarnation_++;
    s.state = SlotState::Loading;
    s.loader = loader;
    s.doomed.store(false);
    s.pins.store(1, std::memory_order_relaxed);
    s.last_used.store(clock_.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    used_bytes_ += size;
    return free_slot;
}

void ImagePool::ready(int i, uint64_t load_nanos) {
    PoolSlot &s = slot(i);
    s.state = SlotState::Ready;
    s.loader = 0;
    counters_.loads++;
    counters_.load_bytes += s.size;
    counters_.load_nanos += load_nanos;
}

bool ImagePool::rename(int i, uint64_t incarnation, const PoolKey &to) {
    PoolSlot &s = slot(i);
    if (s.state != SlotState::Ready || s.incarnation != incarnation || find(to) >= 0) return false;
    s.key = to;
    return true;
}

void ImagePool::release(int i) {
    PoolSlot &s = slot(i);
    if (s.state == SlotState::Free) return;
    s.state = SlotState::Free;
    s.loader = 0;
    used_bytes_ -= s.size;
    while (slot_end_ > 0 && slot(int(slot_end_ - 1)).state == SlotState::Free) slot_end_--;
}

bool ImagePool::release_if_doomed(int i, uint64_t incarnation) {
    PoolSlot &s = slot(i);
    if (s.state != SlotState::Ready || s.incarnation != incarnation || !s.doomed.load() || s.pins.load() != 0)
        return false;
    release(i);
    return true;
}

uint32_t ImagePool::forget(const PoolKey &key, const uint64_t *keep, uint32_t n_keep, uint64_t next_segment) {
    uint32_t dropped = 0;
    for (uint32_t i = 0; i < slot_end_; i++) {
        PoolSlot &s = slot(i);
        if (s.state != SlotState::Ready || s.doomed.load()) continue;
        if (s.key.owner_a != key.owner_a || s.key.owner_b != key.owner_b || s.key.instance != key.instance)
            continue;
        if (s.key.segment >= next_segment || std::find(keep, keep + n_keep, s.key.segment) != keep + n_keep)
            continue;
        doom(int(i), s.incarnation);
        dropped++;
    }
    return dropped;
}

bool ImagePool::doom(int i, uint64_t incarnation) {
    PoolSlot &s = slot(i);
    if (s.state != SlotState::Ready || s.incarnation != incarnation) return false;
    // Doomed first, then the pins: an unpin that does not see the doom happened before this
    // read, which then sees no pin and frees the image here.
    s.doomed.store(true, std::memory_order_seq_cst);
    if (s.pins.load(std::memory_order_seq_cst) == 0) release(i);
    return true;
}

}  // namespace kyrodb
