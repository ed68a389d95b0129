// Backend-local cache of segment images. Segments never change, so an image
// read once serves every later scan of this backend; it is named by the
// index build's random instance id and the segment id, so a rebuilt or
// truncated index never finds a stale one. Images of segments that left the
// directory (merged away, index rebuilt) are dropped on the next lookup.
#include "guard.h"
#include "index.h"

#include <map>
#include <string>
#include <utility>

namespace kyrodb::pg {
namespace {

std::map<std::pair<uint64, uint64>, std::shared_ptr<SegmentImage>> images;

void forget_stale(const MetaPage &meta) {
    for (auto it = images.begin(); it != images.end();) {
        bool current = false;
        if (it->first.first == meta.instance) {
            for (uint32 i = 0; i < meta.n_segments; i++)
                current |= meta.segments[i].id == it->first.second;
        }
        // Images of other indexes stay: this lookup knows nothing of them.
        it = (it->first.first == meta.instance && !current) ? images.erase(it) : std::next(it);
    }
}

}  // namespace

std::vector<uint64_t> read_tombstones(Relation index, const SegmentEntry &entry) {
    std::vector<uint64_t> bits((entry.count + 63) / 64, 0);
    Size bytes = (entry.count + 7) / 8;
    void *out = bits.data();
    pg_call([&] { read_stream_pages(index, entry.tomb_first_block, bytes, out); });
    return bits;
}

std::shared_ptr<SegmentImage> segment_image(Relation index, const MetaPage &meta, const SegmentEntry &entry) {
    auto key = std::make_pair(meta.instance, entry.id);
    auto found = images.find(key);
    std::shared_ptr<SegmentImage> image;
    if (found != images.end()) {
        image = found->second;
    } else {
        forget_stale(meta);
        image = std::make_shared<SegmentImage>();
        image->instance = meta.instance;
        image->segment_id = entry.id;
        void *bytes = aligned_alloc(kyrodb::kSegmentAlign,
                                    (entry.image_size + kyrodb::kSegmentAlign - 1) / kyrodb::kSegmentAlign *
                                        kyrodb::kSegmentAlign);
        if (bytes == nullptr) throw std::bad_alloc();
        image->bytes.reset(static_cast<uint8_t *>(bytes));
        pg_call([&] { read_stream_pages(index, entry.first_block, entry.image_size, bytes); });
        std::string error;
        if (!kyrodb::SegmentView::open(bytes, entry.image_size, &image->view, &error)) {
            std::string message = "segment " + std::to_string(entry.id) + " of index \"" +
                                  RelationGetRelationName(index) + "\" is corrupt: " + error;
            pg_call([&] {
                ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED), errmsg("%s", message.c_str()),
                                errhint("REINDEX the index.")));
            });
        }
        if (image->view.count() != entry.count || image->view.dim() != meta.dim)
            pg_call([&] {
                ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                                errmsg("segment of index \"%s\" does not match its directory entry",
                                       RelationGetRelationName(index)),
                                errhint("REINDEX the index.")));
            });
        images[key] = image;
    }
    if (image->tomb_generation != entry.tomb_generation) {
        image->deleted = entry.tombstones == 0
                             ? nullptr
                             : std::make_shared<const std::vector<uint64_t>>(read_tombstones(index, entry));
        image->tomb_generation = entry.tomb_generation;
    }
    return image;
}

}  // namespace kyrodb::pg
