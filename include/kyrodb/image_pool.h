// Bookkeeping of a fixed arena of memory shared by processes that holds immutable segment images:
// which image is where, who pins it, which to evict when space runs out (least recently used among
// the unpinned). The table lives inside the shared memory it describes (offsets, no pointers), so
// every process mapping it can use it.
//
// Locking is the caller's: find/pin need at least a shared lock, reserve/ready/release/evict an
// exclusive one (the adapter uses an LWLock). unpin() and touch() are atomic and need no lock: a
// pin count only drops without the lock, and eviction, under the exclusive lock, sees every pin
// taken under a shared one.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace kyrodb {

// Names one segment image: who owns it (database, relation file) and which segment of which build.
struct PoolKey {
    uint64_t owner_a, owner_b;
    uint64_t instance, segment;
    bool operator==(const PoolKey &o) const {
        return owner_a == o.owner_a && owner_b == o.owner_b && instance == o.instance && segment == o.segment;
    }
};

enum class SlotState : uint32_t { Free = 0, Loading = 1, Ready = 2 };

struct PoolSlot {
    PoolKey key;
    uint64_t offset;       // in the arena, 64-byte aligned
    uint64_t size;         // bytes reserved
    uint64_t incarnation;  // changes whenever the slot gets a new image
    std::atomic<uint64_t> last_used;
    std::atomic<uint32_t> pins;
    std::atomic<bool> doomed;  // its segment is gone: freed when the last pin goes
    SlotState state;
    int32_t loader;        // process loading it (state Loading)
};

struct PoolCounters {
    uint64_t loads = 0;       // images loaded
    uint64_t load_bytes = 0;  // their bytes
    uint64_t load_nanos = 0;  // time spent copying and checking them
    uint64_t evictions = 0;   // images dropped to make room
    uint64_t refused = 0;     // images that did not fit (too large, or everything else pinned)
};

class ImagePool {
  public:
    static constexpr std::size_t kAlign = 64;

    // Bytes of shared memory for a pool with an arena of `arena_bytes` and `slots` slots.
    static std::size_t bytes_needed(std::size_t arena_bytes, uint32_t slots);
    // Lays out an empty pool in `memory` (bytes_needed(arena_bytes, slots) bytes, 64-byte aligned).
    static ImagePool *create(void *memory, std::size_t arena_bytes, uint32_t slots);

    // The slot holding `key` in any state but Free, or -1.
    int find(const PoolKey &key) const;
    // Pins slot i (which must be Ready or Loading) and marks it used now.
    void pin(int i);
    // Drops a pin; true if it was the last one on a doomed image, which the caller should then free
    // with release_if_doomed (under the exclusive lock).
    bool unpin(int i) {
        return slot(i).pins.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
               slot(i).doomed.load(std::memory_order_seq_cst);
    }
    // Frees slot i if it still holds image `incarnation`, doomed and unpinned.
    bool release_if_doomed(int i, uint64_t incarnation);

    // A Free slot for `key` with `size` bytes of arena, state Loading, pinned once, loader `loader`;
    // evicts least recently used unpinned Ready images as needed (unless `may_evict` is false). -1 if
    // it cannot be had: *too_big tells whether the image is larger than the whole arena (else
    // everything else is pinned, or the slots ran out, or it would have evicted).
    int reserve(const PoolKey &key, uint64_t size, int32_t loader, bool *too_big, bool may_evict = true);
    // A Loading slot's image is complete: other processes may use it.
    void ready(int i, uint64_t load_nanos);
    // Gives Ready slot i, if it still holds image `incarnation`, the key `to`: an image loaded under a
    // key no reader looks up becomes visible at once under its real one. False (and nothing changes)
    // if another slot already has `to`.
    bool rename(int i, uint64_t incarnation, const PoolKey &to);
    // Frees Ready slot i, if it still holds image `incarnation`, when its last pin goes (at once if
    // it has none). False if it holds another image or is not Ready.
    bool doom(int i, uint64_t incarnation);
    // Frees slot i (a load that failed, or an image known to be stale); its pins must be gone.
    void release(int i);
    // Frees every Ready image whose key matches `key` on owner and instance (segment ignored) and
    // whose segment is below `next_segment` and not in `keep` (n_keep ids): images of merged-away
    // segments. Segment ids only grow, so ids from next_segment on are newer than the directory
    // `keep` came from and stay. A pinned one is doomed instead, and freed by its last unpin.
    // Returns the images freed or doomed.
    uint32_t forget(const PoolKey &key, const uint64_t *keep, uint32_t n_keep, uint64_t next_segment);

    PoolSlot &slot(int i) { return slots()[i]; }
    const PoolSlot &slot(int i) const { return slots()[i]; }
    uint32_t slot_count() const { return n_slots_; }
    // One past the last slot that is not Free: loops over the images stop there. Slots are taken
    // lowest first, so a pool of thousands of slots holding a few images reads a few, and a new
    // backend's first look-up of each image stays cheap however large the pool.
    uint32_t slot_end() const { return slot_end_; }
    uint8_t *image(int i) { return arena() + slot(i).offset; }
    std::size_t arena_bytes() const { return arena_bytes_; }
    std::size_t used_bytes() const { return used_bytes_; }
    const PoolCounters &counters() const { return counters_; }

  private:
    static std::size_t slots_offset();
    PoolSlot *slots() { return reinterpret_cast<PoolSlot *>(reinterpret_cast<uint8_t *>(this) + slots_offset()); }
    const PoolSlot *slots() const {
        return reinterpret_cast<const PoolSlot *>(reinterpret_cast<const uint8_t *>(this) + slots_offset());
    }
    uint8_t *arena() { return reinterpret_cast<uint8_t *>(this) + arena_offset_; }
    bool place(uint64_t size, uint64_t *offset) const;
    int evict_one();

    std::size_t arena_bytes_ = 0;
    std::size_t arena_offset_ = 0;  // from this object
    std::size_t used_bytes_ = 0;
    uint32_t n_slots_ = 0;
    uint32_t slot_end_ = 0;
    std::atomic<uint64_t> clock_{0};
    uint64_t next_incarnation_ = 1;
    PoolCounters counters_;
    // then: the slots, then the arena (both 64-byte aligned)
};

}  // namespace kyrodb
