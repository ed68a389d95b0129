// The shared-memory pool of segment images (kyrodb.shared_memory_size).
//
// With kyrodb in shared_preload_libraries, one arena in the main shared
// memory segment holds read-only images of immutable segments, searched by
// every backend in place. The bookkeeping is the core's ImagePool; this file
// owns the memory, the LWLock that serialises the bookkeeping, the condition
// variable on which backends wait for an image another one is loading, and
// the pins this backend holds (released on exit even if a scan never ends).
#include "runtime/guard.h"
#include "index/index.h"

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>

#include "kyrodb/image_pool.h"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/wait_event.h"
}

namespace kyrodb::pg {

int shared_memory_mb = 1024;

namespace {

struct Control {
    LWLock *lock;
    ConditionVariable changed;  // an image finished loading or a load was abandoned
};

Control *control = nullptr;
kyrodb::ImagePool *pool = nullptr;
bool preloaded = false;
shmem_request_hook_type prev_request = nullptr;
shmem_startup_hook_type prev_startup = nullptr;

// Slots this backend has pinned (a slot appears once per pin), and the one it
// is loading; released by the exit callback if their owners never run.
struct Held {
    int slot;
    uint64 incarnation;
    bool staged = false;  // under pool_stage's key still: nobody else will ask for it
};
std::vector<Held> held;
int loading = -1;
bool exit_callback_registered = false;
bool exited = false;

size_t arena_bytes() { return size_t(shared_memory_mb) << 20; }

// One slot per 256 kB of arena: more images than that would be tiny segments.
uint32 slot_count() { return uint32(Min(Max(arena_bytes() >> 18, size_t(256)), size_t(65536))); }

void request_shmem() {
    if (prev_request) prev_request();
    RequestAddinShmemSpace(MAXALIGN(sizeof(Control)));
    if (arena_bytes() > 0) RequestAddinShmemSpace(kyrodb::ImagePool::bytes_needed(arena_bytes(), slot_count()));
    RequestNamedLWLockTranche("kyrodb", 1);
}

void startup_shmem() {
    if (prev_startup) prev_startup();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found;
    control = static_cast<Control *>(ShmemInitStruct("kyrodb control", sizeof(Control), &found));
    if (!found) {
        control->lock = &GetNamedLWLockTranche("kyrodb")->lock;
        ConditionVariableInit(&control->changed);
    }
    if (arena_bytes() > 0) {
        void *memory = ShmemInitStruct("kyrodb image pool",
                                       kyrodb::ImagePool::bytes_needed(arena_bytes(), slot_count()), &found);
        pool = found ? static_cast<kyrodb::ImagePool *>(memory)
                     : kyrodb::ImagePool::create(memory, arena_bytes(), slot_count());
    }
    LWLockRelease(AddinShmemInitLock);
    if (!found && pool != nullptr)
        elog(LOG, "kyrodb: %zu MB of shared memory for segment images (kyrodb.shared_memory_size)",
             arena_bytes() >> 20);
}

void drop_held(int slot) {
    for (size_t k = 0; k < held.size(); k++)
        if (held[k].slot == slot) {
            held[k] = held.back();
            held.pop_back();
            return;
        }
}

// Gives back a slot whose load did not finish, and wakes its waiters.
void abandon(int slot) {
    LWLockAcquire(control->lock, LW_EXCLUSIVE);
    (void) pool->unpin(slot);
    pool->release(slot);
    LWLockRelease(control->lock);
    drop_held(slot);
    loading = -1;
    ConditionVariableBroadcast(&control->changed);
}

// Drops one pin; the last pin of a doomed image frees it.
void unpin(const Held &h) {
    if (!pool->unpin(h.slot)) return;
    LWLockAcquire(control->lock, LW_EXCLUSIVE);
    pool->release_if_doomed(h.slot, h.incarnation);
    LWLockRelease(control->lock);
}

void doom(const Held &h) {
    LWLockAcquire(control->lock, LW_EXCLUSIVE);
    (void) pool->doom(h.slot, h.incarnation);
    LWLockRelease(control->lock);
}

void release_all(int, Datum) {
    if (loading >= 0) abandon(loading);
    for (const Held &h : held) {
        if (h.staged) doom(h);  // a FATAL between staging and publishing
        unpin(h);
    }
    held.clear();
    exited = true;
}

// Maps the pages of [start, start + size) for writing with one system call
// instead of a page fault per 4 kB page, which costs more than the copy itself
// on first touch (several times more on a virtual machine). Best effort: on
// kernels before 5.14 the copy faults the pages in.
void populate(uint8 *start, uint64 size) {
#ifdef MADV_POPULATE_WRITE
    const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    uintptr_t from = uintptr_t(start) / page * page, to = (uintptr_t(start) + size + page - 1) / page * page;
    (void) madvise(reinterpret_cast<void *>(from), to - from, MADV_POPULATE_WRITE);
#else
    (void) start;
    (void) size;
#endif
}

}  // namespace

void pool_register() {
    preloaded = true;
    prev_request = shmem_request_hook;
    shmem_request_hook = request_shmem;
    prev_startup = shmem_startup_hook;
    shmem_startup_hook = startup_shmem;
}

PoolState pool_state() {
    if (!preloaded) return PoolState::NotPreloaded;
    if (pool == nullptr) return PoolState::Disabled;
    return PoolState::Active;
}

PoolPin pool_pin(const kyrodb::PoolKey &key, uint64 size, const std::function<void(uint8 *)> &load, int hint,
                 bool may_evict) {
    PoolPin result;
    if (pool_state() != PoolState::Active || exited) {
        result.outcome = PoolOutcome::Off;
        return result;
    }
    if (!exit_callback_registered) {
        pg_call([] { before_shmem_exit(release_all, 0); });
        exit_callback_registered = true;
    }
    held.reserve(held.size() + 1);  // no allocation (and no throw) while a pin is untracked
    // Prepared once: a broadcast between our look and our sleep is not lost,
    // and the sleep does not return at once on every pass.
    pg_call([] { ConditionVariablePrepareToSleep(&control->changed); });
    for (;;) {
        LWLockAcquire(control->lock, LW_SHARED);
        // The slot this backend found the image in last time, if it still holds it: finding it
        // otherwise reads every slot in use.
        bool hit = hint >= 0 && uint32(hint) < pool->slot_count() &&
                   pool->slot(hint).state != kyrodb::SlotState::Free && pool->slot(hint).key == key;
        int slot = hit ? hint : pool->find(key);
        bool ready = slot >= 0 && pool->slot(slot).state == kyrodb::SlotState::Ready;
        if (ready) pool->pin(slot);
        uint64 incarnation = ready ? pool->slot(slot).incarnation : 0;
        LWLockRelease(control->lock);
        if (ready) {
            ConditionVariableCancelSleep();
            held.push_back(Held{slot, incarnation});
            result.outcome = PoolOutcome::Pinned;
            result.slot = slot;
            result.incarnation = incarnation;
            result.bytes = pool->image(slot);
            return result;
        }
        if (slot >= 0) {  // another backend is loading it: sleep until a load ends, then look again
            pg_call([] { ConditionVariableTimedSleep(&control->changed, 100, PG_WAIT_EXTENSION); });
            continue;
        }
        ConditionVariableCancelSleep();  // cannot raise
        LWLockAcquire(control->lock, LW_EXCLUSIVE);
        bool too_big = false;
        slot = pool->find(key) >= 0 ? -2 : pool->reserve(key, size, MyProcPid, &too_big, may_evict);
        LWLockRelease(control->lock);
        if (slot == -2) continue;  // someone started loading it meanwhile
        if (slot < 0) {
            result.outcome = too_big ? PoolOutcome::TooBig : PoolOutcome::Full;
            return result;
        }
        held.push_back(Held{slot, pool->slot(slot).incarnation});  // the slot is ours while Loading
        loading = slot;
        auto started = std::chrono::steady_clock::now();
        populate(pool->image(slot), size);
        try {
            load(pool->image(slot));
        } catch (...) {
            abandon(slot);
            throw;
        }
        uint64 nanos = uint64(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::steady_clock::now() - started)
                                  .count());
        LWLockAcquire(control->lock, LW_EXCLUSIVE);
        pool->ready(slot, nanos);
        LWLockRelease(control->lock);
        loading = -1;
        ConditionVariableBroadcast(&control->changed);
        result.outcome = PoolOutcome::Pinned;
        result.slot = slot;
        result.incarnation = held.back().incarnation;
        result.bytes = pool->image(slot);
        return result;
    }
}

void pool_unpin(int slot, uint64 incarnation) {
    if (exited) return;  // the exit callback already gave it back
    drop_held(slot);
    unpin(Held{slot, incarnation});
}

PoolPin pool_stage(const kyrodb::PoolKey &key, uint64 size, const std::function<void(uint8 *)> &load) {
    PoolPin pin = pool_pin(key, size, load, -1, false);
    if (pin.outcome == PoolOutcome::Pinned) held.back().staged = true;
    return pin;
}

bool pool_rename(int slot, uint64 incarnation, const kyrodb::PoolKey &to) {
    if (pool_state() != PoolState::Active || exited) return false;
    LWLockAcquire(control->lock, LW_EXCLUSIVE);
    const bool renamed = pool->rename(slot, incarnation, to);
    LWLockRelease(control->lock);
    if (renamed)
        for (Held &h : held)
            if (h.slot == slot) h.staged = false;
    return renamed;
}

void pool_discard(int slot, uint64 incarnation) {
    if (pool_state() != PoolState::Active || exited) return;
    doom(Held{slot, incarnation});
}

void pool_forget(const kyrodb::PoolKey &owner, const std::vector<uint64> &keep, uint64 next_segment_id) {
    if (pool_state() != PoolState::Active) return;
    LWLockAcquire(control->lock, LW_EXCLUSIVE);
    pool->forget(owner, keep.data(), uint32(keep.size()), next_segment_id);
    LWLockRelease(control->lock);
}

PoolUsage pool_usage(const kyrodb::PoolKey *owner) {
    PoolUsage u;
    if (pool_state() != PoolState::Active) return u;
    LWLockAcquire(control->lock, LW_SHARED);
    u.arena_bytes = pool->arena_bytes();
    u.counters = pool->counters();
    for (uint32 i = 0; i < pool->slot_end(); i++) {
        const kyrodb::PoolSlot &s = pool->slot(int(i));
        if (s.state != kyrodb::SlotState::Ready) continue;
        // an index's images are those of its current segments; the pool's include doomed ones
        if (owner != nullptr && (s.key.owner_a != owner->owner_a || s.key.owner_b != owner->owner_b ||
                                 s.key.instance != owner->instance || s.doomed.load()))
            continue;
        u.images++;
        u.used_bytes += s.size;
        if (s.pins.load(std::memory_order_relaxed) > 0) u.pinned++;
    }
    LWLockRelease(control->lock);
    return u;
}

}  // namespace kyrodb::pg
