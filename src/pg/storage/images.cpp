// Segment images for scans: from the shared pool when kyrodb is preloaded and
// the pool can hold them, else from this backend's own cache. Segments never
// change, so an image read once serves every later scan; images are named by
// database, relation file, the build's random instance id and the segment id,
// so a rebuilt or truncated index never finds a stale one.
//
// Pages of a merged-away segment may be reused at once, so every read of
// segment pages is followed by a look at the metapage: if the segment left
// the directory meanwhile, what was read is dropped (StaleSegment) and the
// caller starts again from the new directory.
#include "runtime/crash.h"
#include "runtime/guard.h"
#include "index/index.h"

extern "C" {
#include "miscadmin.h"
#include "utils/builtins.h"
}

#include <map>
#include <stdexcept>
#include <string>
#include <tuple>

namespace kyrodb::pg {
namespace {

struct KeyLess {
    bool operator()(const kyrodb::PoolKey &a, const kyrodb::PoolKey &b) const {
        return std::tie(a.owner_a, a.owner_b, a.instance, a.segment) <
               std::tie(b.owner_a, b.owner_b, b.instance, b.segment);
    }
};

struct LocalImage {
    std::unique_ptr<uint8_t, void (*)(void *)> bytes{nullptr, free};
    uint64 size = 0;
    kyrodb::SegmentView view;
    uint64 last_used = 0;
};
struct Tombstones {
    uint64 generation;
    std::shared_ptr<const std::vector<uint64_t>> bits;
};

// This backend's own images, at most kyrodb.max_local_memory of them.
std::map<kyrodb::PoolKey, std::shared_ptr<LocalImage>, KeyLess> local_images;
uint64 local_bytes = 0;
uint64 local_clock = 0;

using LocalIterator = std::map<kyrodb::PoolKey, std::shared_ptr<LocalImage>, KeyLess>::iterator;
LocalIterator drop_local(LocalIterator it) {
    local_bytes -= it->second->size;  // a scan still holding it keeps the bytes until it ends
    return local_images.erase(it);
}

uint64 local_limit() { return uint64(max_local_memory_mb) << 20; }

// Makes room for `size` more bytes of local images by dropping those no scan
// holds, least recently used first; false if that is not enough.
bool make_local_room(uint64 size) {
    if (size > local_limit()) return false;
    while (local_bytes + size > local_limit()) {
        auto victim = local_images.end();
        for (auto it = local_images.begin(); it != local_images.end(); ++it)
            if (it->second.use_count() == 1 && (victim == local_images.end() ||
                                                it->second->last_used < victim->second->last_used))
                victim = it;
        if (victim == local_images.end()) return false;
        drop_local(victim);
    }
    return true;
}
std::map<kyrodb::PoolKey, Tombstones, KeyLess> tombstones;
std::map<kyrodb::PoolKey, int, KeyLess> pool_slots;  // where an image was in the pool last time

bool same_build(const kyrodb::PoolKey &a, const kyrodb::PoolKey &b) {
    return a.owner_a == b.owner_a && a.owner_b == b.owner_b && a.instance == b.instance;
}

// Drops what this backend holds of segments of `meta`'s build that left its
// directory, and their images in the shared pool (on a standby no flush runs
// to drop them). `meta` may be older than the index's current directory:
// segments newer than it (ids from its next_segment_id on) are kept.
void forget_stale(const kyrodb::PoolKey &build, const MetaPage &meta) {
    std::vector<uint64> current(meta.n_segments);
    for (uint32 i = 0; i < meta.n_segments; i++) current[i] = meta.segments[i].id;
    pool_forget(build, current, meta.next_segment_id);
    auto listed = [&](uint64 id) {
        if (id >= meta.next_segment_id) return true;
        for (uint32 i = 0; i < meta.n_segments; i++)
            if (meta.segments[i].id == id) return true;
        return false;
    };
    for (auto it = local_images.begin(); it != local_images.end();)
        it = same_build(it->first, build) && !listed(it->first.segment) ? drop_local(it) : std::next(it);
    for (auto it = tombstones.begin(); it != tombstones.end();)
        it = same_build(it->first, build) && !listed(it->first.segment) ? tombstones.erase(it) : std::next(it);
    for (auto it = pool_slots.begin(); it != pool_slots.end();)
        it = same_build(it->first, build) && !listed(it->first.segment) ? pool_slots.erase(it) : std::next(it);
}

// Whether `entry` is still in the index's directory (pages read before this
// call were then its own).
void check_still_listed(Relation index, const SegmentEntry &entry) {
    MetaPage now;
    pg_call([&] { read_meta(index, &now); });
    for (uint32 i = 0; i < now.n_segments; i++)
        if (now.segments[i].id == entry.id && now.segments[i].first_block == entry.first_block) return;
    throw StaleSegment();
}

[[noreturn]] void corrupt(Relation index, const SegmentEntry &entry, const std::string &why) {
    std::string message = "segment " + std::to_string(entry.id) + " of index \"" + RelationGetRelationName(index) +
                          "\" is corrupt: " + why;
    pg_call([&] {
        ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED), errmsg("%s", message.c_str()),
                        errhint("REINDEX the index.")));
    });
    throw std::logic_error("not reached");
}

// Reads the image of `entry` into dst (image_size bytes, 64-byte aligned)
// and checks it completely.
void load_image(Relation index, const MetaPage &meta, const SegmentEntry &entry, uint8 *dst,
                kyrodb::SegmentView *view) {
    pg_call([&] { read_stream_pages(index, entry.first_block, entry.image_size, dst); });
    check_still_listed(index, entry);
    std::string error;
    if (!kyrodb::SegmentView::open(dst, entry.image_size, view, &error)) corrupt(index, entry, error);
    if (view->count() != entry.count || view->dim() != meta.dim || view->attributes() != meta.attributes)
        corrupt(index, entry, "it does not match its directory entry");
}

std::string megabytes(uint64 bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MB"; }

// The reasons an image is not shared, each reported once per backend.
enum Fallback { kNotPreloaded, kDisabled, kTooBig, kFull, kPaged, kFallbacks };
bool reported[kFallbacks];

void report_fallback(Fallback why, Relation index, const SegmentEntry &entry) {
    if (reported[why]) return;
    reported[why] = true;
    std::string size = megabytes(entry.image_size), pool = std::to_string(shared_memory_mb) + " MB",
                local = std::to_string(max_local_memory_mb) + " MB";
    const int level = IsBackgroundWorker ? LOG : NOTICE;  // a worker's NOTICE reaches no one
    pg_call([&] {
        switch (why) {
            case kNotPreloaded:
                ereport(level,
                        (errmsg("kyrodb is not in shared_preload_libraries, so each connection loads its own "
                                "copy of index segments"),
                         errdetail("A connection keeps copies within kyrodb.max_local_memory and reads the pages "
                                   "of segments beyond it."),
                         errhint("Add kyrodb to shared_preload_libraries and restart the server for shared "
                                 "segment images, background flushes and prewarm.")));
                break;
            case kDisabled:
                ereport(level, (errmsg("kyrodb.shared_memory_size is 0, so each connection loads its own copy "
                                        "of index segments"),
                                errdetail("A connection keeps copies within kyrodb.max_local_memory and reads the "
                                          "pages of segments beyond it."),
                                 errhint("Set kyrodb.shared_memory_size and restart the server.")));
                break;
            case kTooBig:
                ereport(level,
                        (errmsg("segment %llu of index \"%s\" (%s) is larger than kyrodb.shared_memory_size (%s)",
                                (unsigned long long) entry.id, RelationGetRelationName(index), size.c_str(),
                                pool.c_str()),
                         errdetail("This connection keeps its own copy of the segment within "
                                   "kyrodb.max_local_memory, or reads its pages."),
                         errhint("Raise kyrodb.shared_memory_size and restart the server.")));
                break;
            case kFull:
                ereport(level,
                        (errmsg("kyrodb.shared_memory_size (%s) is full of segment images in use",
                                pool.c_str()),
                         errdetail("This connection keeps its own copy of segment %llu of index \"%s\" (%s) within "
                                   "kyrodb.max_local_memory, or reads its pages.",
                                   (unsigned long long) entry.id, RelationGetRelationName(index), size.c_str()),
                         errhint("Raise kyrodb.shared_memory_size and restart the server.")));
                break;
            case kPaged:
                ereport(level,
                        (errmsg("segment %llu of index \"%s\" (%s) is searched through shared buffers: it does "
                                "not fit kyrodb.max_local_memory (%s) of this connection",
                                (unsigned long long) entry.id, RelationGetRelationName(index), size.c_str(),
                                local.c_str()),
                         errdetail("Such a search reads index pages for every element it visits, several times "
                                   "slower than a search in memory; flushes and merges of the index wait "
                                   "for the scan to end."),
                         errhint("Search it in shared memory (kyrodb in shared_preload_libraries and a large "
                                 "enough kyrodb.shared_memory_size), or raise kyrodb.max_local_memory.")));
                break;
            default: break;
        }
    });
}

struct Pin {
    int slot;
    uint64 incarnation;
    Pin(int s, uint64 i) : slot(s), incarnation(i) {}
    ~Pin() { pool_unpin(slot, incarnation); }
    Pin(const Pin &) = delete;
    Pin &operator=(const Pin &) = delete;
};

bool shared_image(Relation index, const MetaPage &meta, const SegmentEntry &entry, const kyrodb::PoolKey &key,
                  ImageRef *ref) {
    switch (pool_state()) {
        case PoolState::NotPreloaded: report_fallback(kNotPreloaded, index, entry); return false;
        case PoolState::Disabled: report_fallback(kDisabled, index, entry); return false;
        case PoolState::Active: break;
    }
    auto hint = pool_slots.find(key);
    PoolPin pin = pool_pin(
        key, entry.image_size,
        [&](uint8 *dst) {
            kyrodb::SegmentView checked;
            load_image(index, meta, entry, dst, &checked);
            pg_call([] { crash_point("pool.loaded"); });
        },
        hint == pool_slots.end() ? -1 : hint->second);
    if (pin.outcome == PoolOutcome::TooBig || pin.outcome == PoolOutcome::Full) {
        report_fallback(pin.outcome == PoolOutcome::TooBig ? kTooBig : kFull, index, entry);
        return false;
    }
    if (pin.outcome != PoolOutcome::Pinned) return false;
    std::shared_ptr<Pin> keep;
    try {
        keep = std::make_shared<Pin>(pin.slot, pin.incarnation);
    } catch (...) {
        pool_unpin(pin.slot, pin.incarnation);
        throw;
    }
    std::string error;
    if (!kyrodb::SegmentView::attach(pin.bytes, entry.image_size, &ref->view, &error))
        corrupt(index, entry, error);
    ref->keep = keep;
    ref->shared = true;
    pool_slots[key] = pin.slot;
    return true;
}

}  // namespace

// Reads an image from the index's pages on demand, for a PagedSegment.
class PageReader final : public kyrodb::ImageReader {
  public:
    PageReader(Relation index, const SegmentEntry &entry) : index_(index), entry_(entry) {}
    void read(uint64_t offset, std::size_t size, void *dst) override {
        if (offset + size > entry_.image_size) throw std::out_of_range("kyrodb: read past a segment image");
        pg_call([&] {
            if ((++reads_ & 1023) == 0) CHECK_FOR_INTERRUPTS();
            char *out = static_cast<char *>(dst);
            while (size > 0) {
                BlockNumber blk = entry_.first_block + BlockNumber(offset / kPageDataSize);
                Size within = offset % kPageDataSize, n = Min(size, kPageDataSize - within);
                Buffer buf = ReadBuffer(index_, blk);
                LockBuffer(buf, BUFFER_LOCK_SHARE);
                memcpy(out, page_data(BufferGetPage(buf)) + within, n);
                UnlockReleaseBuffer(buf);
                out += n;
                offset += n;
                size -= n;
            }
        });
    }

  private:
    Relation index_;
    SegmentEntry entry_;
    uint64 reads_ = 0;
};

struct PagedImage {
    PagedImage(Relation index, const SegmentEntry &entry) : reader(index, entry) {}
    PageReader reader;
    kyrodb::PagedSegment segment;  // reads through `reader`: neither moves
};

namespace {

// This backend's copy of the image, cached within kyrodb.max_local_memory.
// A scan (`may_page`) gets false when it does not fit and reads the segment's
// pages instead; maintenance gets a copy that is not kept.
bool local_image(Relation index, const MetaPage &meta, const SegmentEntry &entry, const kyrodb::PoolKey &key,
                 bool may_page, ImageRef *ref) {
    auto found = local_images.find(key);
    if (found == local_images.end()) {
        bool cached = make_local_room(entry.image_size);
        if (!cached && may_page) return false;
        auto image = std::make_shared<LocalImage>();
        size_t rounded = (entry.image_size + kyrodb::kSegmentAlign - 1) / kyrodb::kSegmentAlign * kyrodb::kSegmentAlign;
        image->bytes.reset(static_cast<uint8_t *>(aligned_alloc(kyrodb::kSegmentAlign, rounded)));
        if (!image->bytes) throw std::bad_alloc();
        image->size = entry.image_size;
        load_image(index, meta, entry, image->bytes.get(), &image->view);
        if (!cached) {
            ref->view = image->view;
            ref->keep = image;
            return true;
        }
        found = local_images.emplace(key, image).first;
        local_bytes += image->size;
    }
    found->second->last_used = ++local_clock;
    ref->view = found->second->view;
    ref->keep = found->second;
    return true;
}

void paged_image(Relation index, const MetaPage &meta, const SegmentEntry &entry, ImageRef *ref) {
    report_fallback(kPaged, index, entry);
    auto paged = std::make_shared<PagedImage>(index, entry);
    std::string error;
    if (!kyrodb::PagedSegment::open(&paged->reader, entry.image_size, &paged->segment, &error))
        corrupt(index, entry, error);
    if (paged->segment.count() != entry.count || paged->segment.attributes() != meta.attributes)
        corrupt(index, entry, "it does not match its directory entry");
    ref->paged = paged;
}

// The tombstone bitmap of a segment (count bits), read from its pages.
std::vector<uint64_t> read_tombstones(Relation index, const SegmentEntry &entry) {
    std::vector<uint64_t> bits((entry.count + 63) / 64, 0);
    Size bytes = (entry.count + 7) / 8;
    void *out = bits.data();
    pg_call([&] { read_stream_pages(index, entry.tomb_first_block, bytes, out); });
    return bits;
}

std::shared_ptr<const std::vector<uint64_t>> deleted_bits(Relation index, const SegmentEntry &entry,
                                                          const kyrodb::PoolKey &key) {
    if (entry.tombstones == 0) return nullptr;
    auto found = tombstones.find(key);
    if (found != tombstones.end() && found->second.generation == entry.tomb_generation) return found->second.bits;
    auto bits = std::make_shared<const std::vector<uint64_t>>(read_tombstones(index, entry));
    check_still_listed(index, entry);
    tombstones[key] = Tombstones{entry.tomb_generation, bits};
    return bits;
}

}  // namespace

void stage_image(const std::vector<uint8_t> &image, StagedImage *staged) {
    // A key no scan asks for: no owner, and a random segment number above any real one.
    uint64 random[2];
    bool drawn = false;
    pg_call([&] { drawn = pg_strong_random(random, sizeof(random)); });
    if (!drawn) return;
    const kyrodb::PoolKey key{0, 0, random[0], random[1] | uint64(1) << 63};
    PoolPin pin = pool_stage(key, image.size(), [&](uint8 *dst) { memcpy(dst, image.data(), image.size()); });
    if (pin.outcome != PoolOutcome::Pinned) return;
    staged->slot = pin.slot;
    staged->incarnation = pin.incarnation;
}

StagedImage::~StagedImage() {
    if (slot < 0) return;
    if (!renamed) pool_discard(slot, incarnation);
    pool_unpin(slot, incarnation);
}

kyrodb::PoolKey image_key(Relation index, const MetaPage &meta, uint64 segment) {
    const RelFileNode &node = index->rd_node;
    return kyrodb::PoolKey{(uint64(node.dbNode) << 32) | node.spcNode, node.relNode, meta.instance, segment};
}

ImageRef segment_image(Relation index, const MetaPage &meta, const SegmentEntry &entry, bool may_page) {
    kyrodb::PoolKey key = image_key(index, meta, entry.id);
    if (local_images.find(key) == local_images.end() && pool_slots.find(key) == pool_slots.end())
        forget_stale(key, meta);  // a segment new to this backend: the directory may have moved on
    ImageRef ref;
    auto local = local_images.find(key);
    if (local != local_images.end()) {
        local->second->last_used = ++local_clock;
        ref.view = local->second->view;
        ref.keep = local->second;
    } else if (!shared_image(index, meta, entry, key, &ref) && !local_image(index, meta, entry, key, may_page, &ref)) {
        paged_image(index, meta, entry, &ref);
    }
    ref.deleted = deleted_bits(index, entry, key);
    return ref;
}

void local_image_usage(const kyrodb::PoolKey &build, uint32 *images, uint64 *bytes) {
    *images = 0;
    *bytes = 0;
    for (const auto &[key, image] : local_images)
        if (same_build(key, build)) {
            (*images)++;
            *bytes += image->size;
        }
}

float search_image(kyrodb::Searcher &searcher, const ImageRef &image, const float *query, size_t ef,
                   const kyrodb::Filter *filter, std::vector<kyrodb::Neighbor> *out, float radius, size_t beam) {
    const uint64_t *deleted = image.deleted ? image.deleted->data() : nullptr;
    if (image.paged) return searcher.search(image.paged->segment, query, ef, deleted, filter, out, radius, beam);
    return searcher.search(image.view, query, ef, deleted, filter, out, radius, beam);
}

void exact_image(kyrodb::Searcher &searcher, const ImageRef &image, const float *query,
                 const kyrodb::Filter *filter, std::vector<kyrodb::Neighbor> *out) {
    const uint64_t *deleted = image.deleted ? image.deleted->data() : nullptr;
    // The scan selects the nearest itself: no need to sort them all.
    if (image.paged)
        searcher.exact(image.paged->segment, query, deleted, out, filter, false);
    else
        searcher.exact(image.view, query, deleted, out, filter, false);
}

size_t image_matching_estimate(kyrodb::Searcher &searcher, const ImageRef &image, const kyrodb::Filter &filter) {
    if (image.paged) return filter.impossible() ? 0 : image.paged->segment.count();  // no postings read
    return searcher.matching_estimate(image.view, filter);
}

uint64 image_payload(const ImageRef &image, uint32 id) {
    return image.paged ? image.paged->segment.payload(id) : image.view.payload(id);
}

const float *image_vector(const ImageRef &image, uint32 id) {
    return image.paged ? image.paged->segment.vector(id) : image.view.vector(id);
}

const uint64 *image_attr_row(const ImageRef &image, uint32 id) {
    return image.paged ? image.paged->segment.attr_row(id) : image.view.attr_row(id);
}

bool image_read_garbage(const ImageRef &image) { return image.paged && image.paged->segment.corrupt(); }

uint32 prewarm_index(Relation index, uint32 part, uint32 parts) {
    for (int attempt = 0;; attempt++) {
        MetaPage meta;
        pg_call([&] { read_meta(index, &meta); });
        try {
            const uint32 first = uint32(uint64(meta.n_segments) * part / parts);
            for (uint32 i = 0; i < meta.n_segments; i++) {
                segment_image(index, meta, meta.segments[(first + i) % meta.n_segments], false);
                pg_call([] {
                    crash_point("prewarm.loaded");
                    CHECK_FOR_INTERRUPTS();
                });
            }
            return meta.n_segments;
        } catch (const StaleSegment &) {
            if (attempt >= 10) throw;  // merges cannot outrun ten loads in a row
        }
    }
}

}  // namespace kyrodb::pg
