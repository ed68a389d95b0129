// Unit tests of the shared image pool's bookkeeping: placement, pins, least-recently-used
// eviction, refusal when nothing can be evicted, and forgetting the images of merged-away segments.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <set>

#include "kyrodb/image_pool.h"

namespace {

using kyrodb::ImagePool;
using kyrodb::PoolKey;
using kyrodb::SlotState;

struct Pool {
    explicit Pool(std::size_t arena, uint32_t slots = 8)
        : memory(static_cast<uint8_t *>(std::aligned_alloc(64, ImagePool::bytes_needed(arena, slots))), std::free),
          pool(ImagePool::create(memory.get(), arena, slots)) {}
    std::unique_ptr<uint8_t, void (*)(void *)> memory;
    ImagePool *pool;

    // Loads (reserves and readies) an image and drops the loader's pin.
    int load(uint64_t segment, uint64_t size) {
        bool too_big = false;
        int i = pool->reserve(key(segment), size, 42, &too_big);
        if (i >= 0) {
            pool->ready(i, 1000);
            pool->unpin(i);
        }
        return i;
    }
    static PoolKey key(uint64_t segment, uint64_t instance = 7) { return PoolKey{1, 2, instance, segment}; }
};

TEST(ImagePool, PlacesImagesWithoutOverlap) {
    Pool p(1 << 20);
    std::set<std::pair<uint64_t, uint64_t>> extents;
    for (uint64_t s = 1; s <= 4; s++) {
        int i = p.load(s, 100000 + s);
        ASSERT_GE(i, 0);
        const auto &slot = p.pool->slot(i);
        EXPECT_EQ(slot.offset % 64, 0u);
        EXPECT_GE(slot.size, 100000 + s);
        for (const auto &e : extents) EXPECT_TRUE(slot.offset >= e.first + e.second || slot.offset + slot.size <= e.first);
        extents.insert({slot.offset, slot.size});
        EXPECT_EQ(p.pool->find(Pool::key(s)), i);
        EXPECT_EQ(slot.state, SlotState::Ready);
    }
    EXPECT_EQ(p.pool->find(Pool::key(9)), -1);
    EXPECT_EQ(p.pool->find(Pool::key(1, 8)), -1);  // same segment id, other build
    EXPECT_EQ(p.pool->counters().loads, 4u);
    EXPECT_EQ(p.pool->counters().evictions, 0u);
}

TEST(ImagePool, EvictsLeastRecentlyUsedUnpinned) {
    Pool p(4 * 65536);
    for (uint64_t s = 1; s <= 4; s++) ASSERT_GE(p.load(s, 65536), 0);
    // Use 1, then 3: 2 is now the least recently used, then 4.
    for (uint64_t s : {1, 3}) {
        int i = p.pool->find(Pool::key(s));
        p.pool->pin(i);
        p.pool->unpin(i);
    }
    ASSERT_GE(p.load(5, 65536), 0);
    EXPECT_EQ(p.pool->find(Pool::key(2)), -1);
    EXPECT_GE(p.pool->find(Pool::key(4)), 0);
    ASSERT_GE(p.load(6, 65536), 0);
    EXPECT_EQ(p.pool->find(Pool::key(4)), -1);
    EXPECT_EQ(p.pool->counters().evictions, 2u);
    EXPECT_EQ(p.pool->used_bytes(), 4u * 65536);
}

TEST(ImagePool, NeverEvictsPinnedOrLoading) {
    Pool p(2 * 65536);
    int a = p.load(1, 65536);
    int b = p.pool->find(Pool::key(1));
    ASSERT_EQ(a, b);
    p.pool->pin(a);  // a scan holds it
    bool too_big = true;
    int loading = p.pool->reserve(Pool::key(2), 65536, 42, &too_big);  // still loading, pinned by its loader
    ASSERT_GE(loading, 0);
    EXPECT_EQ(p.pool->reserve(Pool::key(3), 65536, 42, &too_big), -1);
    EXPECT_FALSE(too_big);
    EXPECT_EQ(p.pool->counters().refused, 1u);
    p.pool->unpin(a);
    int c = p.pool->reserve(Pool::key(3), 65536, 42, &too_big);
    EXPECT_GE(c, 0);
    EXPECT_EQ(p.pool->find(Pool::key(1)), -1);
    EXPECT_EQ(p.pool->slot(loading).state, SlotState::Loading);
}

TEST(ImagePool, ReservesWithoutEvictingWhenAsked) {
    Pool p(2 * 65536);
    ASSERT_GE(p.load(1, 65536), 0);
    bool too_big = true;
    EXPECT_EQ(p.pool->reserve(Pool::key(2), 2 * 65536, 42, &too_big, false), -1);  // only by evicting 1
    EXPECT_FALSE(too_big);
    EXPECT_GE(p.pool->find(Pool::key(1)), 0);
    int b = p.pool->reserve(Pool::key(2), 65536, 42, &too_big, false);  // the free half
    EXPECT_GE(b, 0);
    EXPECT_GE(p.pool->find(Pool::key(1)), 0);
}

// A background writer loads a new image under a key nobody looks up and renames it once the
// segment is published; a stale incarnation, a slot still loading, or a key already present
// (a reader started loading it) leave everything as it was.
TEST(ImagePool, RenamesAReadyImage) {
    Pool p(1 << 20);
    const PoolKey staged = Pool::key(~0ull - 5);
    bool too_big = false;
    int i = p.pool->reserve(staged, 1000, 42, &too_big);
    ASSERT_GE(i, 0);
    const uint64_t incarnation = p.pool->slot(i).incarnation;
    EXPECT_FALSE(p.pool->rename(i, incarnation, Pool::key(3)));  // still loading
    p.pool->ready(i, 1000);
    EXPECT_FALSE(p.pool->rename(i, incarnation + 1, Pool::key(3)));
    int other = p.load(4, 1000);
    ASSERT_GE(other, 0);
    EXPECT_FALSE(p.pool->rename(i, incarnation, Pool::key(4)));
    EXPECT_EQ(p.pool->find(staged), i);
    EXPECT_TRUE(p.pool->rename(i, incarnation, Pool::key(3)));
    EXPECT_EQ(p.pool->find(Pool::key(3)), i);
    EXPECT_EQ(p.pool->find(staged), -1);
    EXPECT_EQ(p.pool->find(Pool::key(4)), other);
    p.pool->unpin(i);
    // Forgetting by the directory treats it as the segment it now names.
    const uint64_t keep[] = {4};
    EXPECT_EQ(p.pool->forget(Pool::key(0), keep, 1, 10), 1u);
    EXPECT_EQ(p.pool->find(Pool::key(3)), -1);
}

// A staged image whose segment was never published: freed once its last pin goes, or at once if it
// has none; a stale incarnation or a slot still loading is left alone.
TEST(ImagePool, DoomsOneImage) {
    Pool p(1 << 20);
    bool too_big = false;
    int i = p.pool->reserve(Pool::key(1), 1000, 42, &too_big);
    ASSERT_GE(i, 0);
    const uint64_t incarnation = p.pool->slot(i).incarnation;
    EXPECT_FALSE(p.pool->doom(i, incarnation));  // still loading
    p.pool->ready(i, 1000);
    EXPECT_FALSE(p.pool->doom(i, incarnation + 1));
    EXPECT_TRUE(p.pool->doom(i, incarnation));  // pinned by its loader: stays for now
    EXPECT_EQ(p.pool->find(Pool::key(1)), i);
    ASSERT_TRUE(p.pool->unpin(i));  // the last pin of a doomed image
    EXPECT_TRUE(p.pool->release_if_doomed(i, incarnation));
    EXPECT_EQ(p.pool->find(Pool::key(1)), -1);
    int j = p.load(2, 1000);  // unpinned
    ASSERT_GE(j, 0);
    EXPECT_TRUE(p.pool->doom(j, p.pool->slot(j).incarnation));
    EXPECT_EQ(p.pool->find(Pool::key(2)), -1);
}

TEST(ImagePool, RefusesImagesLargerThanTheArena) {
    Pool p(65536);
    bool too_big = false;
    EXPECT_EQ(p.pool->reserve(Pool::key(1), 65537, 42, &too_big), -1);
    EXPECT_TRUE(too_big);
    EXPECT_GE(p.pool->reserve(Pool::key(2), 65536, 42, &too_big), 0);
    EXPECT_FALSE(too_big);
}

TEST(ImagePool, RunsOutOfSlotsGracefully) {
    Pool p(1 << 20, 2);
    int a = p.load(1, 100);
    int b = p.load(2, 100);
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    p.pool->pin(a);
    p.pool->pin(b);
    bool too_big = true;
    EXPECT_EQ(p.pool->reserve(Pool::key(3), 100, 42, &too_big), -1);
    EXPECT_FALSE(too_big);
    p.pool->unpin(b);
    EXPECT_GE(p.pool->reserve(Pool::key(3), 100, 42, &too_big), 0);  // evicts 2, reuses its slot
    EXPECT_EQ(p.pool->find(Pool::key(2)), -1);
}

TEST(ImagePool, ReleasedSpaceIsReusedAndIncarnationsDiffer) {
    Pool p(2 * 65536);
    int a = p.load(1, 65536);
    uint64_t first = p.pool->slot(a).incarnation;
    bool too_big;
    int loading = p.pool->reserve(Pool::key(2), 65536, 42, &too_big);
    p.pool->unpin(loading);
    p.pool->release(loading);  // a failed load
    EXPECT_EQ(p.pool->find(Pool::key(2)), -1);
    int again = p.load(2, 65536);
    ASSERT_GE(again, 0);
    EXPECT_NE(p.pool->slot(again).incarnation, first);
    EXPECT_EQ(p.pool->counters().evictions, 0u);
}

// The loops over images stop at slot_end: past every image, however many slots lie beyond, and
// not before an image above a freed slot.
TEST(ImagePool, LooksOnlyAsFarAsTheLastSlotInUse) {
    Pool p(1 << 20, 1000);
    EXPECT_EQ(p.pool->slot_end(), 0u);
    for (uint64_t s = 1; s <= 4; s++) ASSERT_EQ(p.load(s, 1000), int(s - 1));  // lowest free slot first
    EXPECT_EQ(p.pool->slot_end(), 4u);
    p.pool->release(p.pool->find(Pool::key(2)));  // a hole below the last image
    EXPECT_EQ(p.pool->slot_end(), 4u);
    EXPECT_EQ(p.pool->find(Pool::key(4)), 3);
    const uint64_t keep[] = {1};
    EXPECT_EQ(p.pool->forget(Pool::key(0), keep, 1, 9), 2u);  // 3 and 4, above the hole
    EXPECT_EQ(p.pool->find(Pool::key(4)), -1);
    EXPECT_EQ(p.pool->slot_end(), 1u);  // segment 1's slot is all that is left
    EXPECT_EQ(p.load(5, 1000), 1);      // the hole is taken first
    EXPECT_EQ(p.pool->slot_end(), 2u);
    // Eviction finds the least recently used image in the last slot in use.
    Pool q(2 * 65536, 1000);
    ASSERT_EQ(q.load(1, 65536), 0);
    ASSERT_EQ(q.load(2, 65536), 1);
    q.pool->pin(0);
    q.pool->unpin(0);  // 2 is now the least recently used
    ASSERT_EQ(q.load(3, 65536), 2);  // slot first, then room: 2 goes after slot 2 is taken
    EXPECT_EQ(q.pool->find(Pool::key(2)), -1);
    EXPECT_EQ(q.pool->counters().evictions, 1u);
    EXPECT_EQ(q.pool->slot_end(), 3u);
    q.pool->release(0);
    EXPECT_EQ(q.pool->slot_end(), 3u);
    q.pool->release(2);
    EXPECT_EQ(q.pool->slot_end(), 0u);  // down past every free slot
}

TEST(ImagePool, ForgetsMergedAwaySegmentsOfOneBuild) {
    Pool p(1 << 20);
    for (uint64_t s = 1; s <= 4; s++) ASSERT_GE(p.load(s, 1000), 0);
    bool too_big;
    int other = p.pool->reserve(Pool::key(2, 99), 1000, 42, &too_big);  // another index's segment 2
    p.pool->ready(other, 1);
    p.pool->unpin(other);
    int pinned = p.pool->find(Pool::key(3));
    p.pool->pin(pinned);
    p.pool->pin(pinned);  // two scans hold it
    ASSERT_GE(p.load(6, 1000), 0);  // newer than the directory below, which ends before segment 5
    const uint64_t keep[] = {4};
    EXPECT_EQ(p.pool->forget(Pool::key(0), keep, 1, 5), 3u);  // 1 and 2 freed, 3 doomed
    EXPECT_GE(p.pool->find(Pool::key(6)), 0);                 // a stale directory keeps newer images
    EXPECT_EQ(p.pool->find(Pool::key(1)), -1);
    EXPECT_EQ(p.pool->find(Pool::key(2)), -1);
    EXPECT_EQ(p.pool->find(Pool::key(3)), pinned);  // still readable by the scans that hold it
    EXPECT_GE(p.pool->find(Pool::key(4)), 0);
    EXPECT_GE(p.pool->find(Pool::key(2, 99)), 0);
    EXPECT_EQ(p.pool->forget(Pool::key(0), keep, 1, 5), 0u);  // already doomed
    uint64_t incarnation = p.pool->slot(pinned).incarnation;
    EXPECT_FALSE(p.pool->unpin(pinned));  // not the last pin
    EXPECT_TRUE(p.pool->unpin(pinned));   // the last: its holder frees it
    EXPECT_FALSE(p.pool->release_if_doomed(pinned, incarnation + 1));  // another image by now: kept
    EXPECT_TRUE(p.pool->release_if_doomed(pinned, incarnation));
    EXPECT_EQ(p.pool->find(Pool::key(3)), -1);
    EXPECT_FALSE(p.pool->release_if_doomed(pinned, incarnation));  // once
    // a new image in that slot is not doomed
    int fresh = p.load(7, 1000);
    ASSERT_GE(fresh, 0);
    EXPECT_FALSE(p.pool->slot(fresh).doomed.load());
}

}  // namespace
