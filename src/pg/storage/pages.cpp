#include "storage/pages.h"

#include "runtime/crash.h"

extern "C" {
#include "access/genam.h"
#include "access/generic_xlog.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
}

#include <random>

namespace kyrodb::pg {

void init_page(Page page, PageKind kind) {
    PageInit(page, BLCKSZ, sizeof(PageOpaque));
    PageOpaque *op = page_opaque(page);
    op->next = InvalidBlockNumber;
    op->kind = kind;
    op->unused = 0;
}

void set_page_used(Page page, Size used) {
    reinterpret_cast<PageHeader>(page)->pd_lower = static_cast<LocationIndex>(kPageDataOffset + used);
}

namespace {

// Why the metapage in `page` cannot be trusted, or null. O(1): only what
// every user of the metapage relies on.
const char *meta_problem(Page page) {
    const MetaPage *m = meta_of(page);
    if (PageIsNew(page)) return "its metapage is empty";
    if (page_opaque(page)->kind != kPageMeta || m->magic != kMetaMagic) return "block 0 is not a kyrodb metapage";
    if (m->version != kPageFormatVersion) return nullptr;  // reported separately
    if (m->dim < 1 || m->dim > 16000) return "its dimensions are out of range";
    if (m->n_segments > uint32(kMaxSegments) || m->n_free > uint32(kMaxFreeExtents))
        return "its segment directory or free list is longer than the metapage holds";
    if (m->n_blocks < 2) return "its page count is impossible";
    if (m->attributes > kyrodb::kMaxAttributes) return "its attribute count is out of range";
    const uint64 rs = hot_record_size(row_floats(*m));
    if (m->hot_start > m->hot_end || !BlockNumberIsValid(m->hot_head) || !BlockNumberIsValid(m->hot_tail) ||
        m->hot_head >= m->n_blocks || m->hot_tail >= m->n_blocks || m->hot_head_pos > m->hot_tail_pos ||
        m->hot_head_pos > m->hot_start * rs || m->hot_tail_pos > m->hot_end * rs ||
        m->hot_end * rs - m->hot_tail_pos > kPageDataSize)
        return "its hot-tier positions contradict each other";
    return nullptr;
}

// Raises the error for a metapage that failed meta_problem or has another
// format version. Call with no buffer lock held.
[[noreturn]] void meta_error(Relation index, const char *problem, uint32 version) {
    if (problem == nullptr)
        ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                        errmsg("index \"%s\" has page format version %u, this kyrodb reads %u",
                               RelationGetRelationName(index), version, kPageFormatVersion),
                        errhint("REINDEX the index.")));
    ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                    errmsg("index \"%s\" is not a valid kyrodb index", RelationGetRelationName(index)),
                    errdetail("%s.", problem), errhint("REINDEX the index.")));
    pg_unreachable();
}

}  // namespace

Buffer lock_meta(Relation index, int mode) {
    Buffer buf = ReadBuffer(index, kMetaBlock);
    LockBuffer(buf, mode);
    Page page = BufferGetPage(buf);
    const char *problem = meta_problem(page);
    uint32 version = PageIsNew(page) ? 0 : meta_of(page)->version;
    if (problem == nullptr && version == kPageFormatVersion) return buf;
    UnlockReleaseBuffer(buf);
    meta_error(index, problem, version);
}

void read_meta(Relation index, MetaPage *out) {
    Buffer buf = lock_meta(index, BUFFER_LOCK_SHARE);
    memcpy(out, meta_of(BufferGetPage(buf)), sizeof(MetaPage));
    UnlockReleaseBuffer(buf);
}

void free_add(MetaPage *meta, BlockNumber first, uint32 blocks) {
    if (blocks == 0) return;
    Extent *f = meta->free_pages;
    uint32 n = meta->n_free, at = 0;
    while (at < n && f[at].first < first) at++;
    bool joins_prev = at > 0 && f[at - 1].first + f[at - 1].blocks == first;
    bool joins_next = at < n && first + blocks == f[at].first;
    if (joins_prev && joins_next) {
        f[at - 1].blocks += blocks + f[at].blocks;
        memmove(&f[at], &f[at + 1], sizeof(Extent) * (n - at - 1));
        meta->n_free--;
    } else if (joins_prev) {
        f[at - 1].blocks += blocks;
    } else if (joins_next) {
        f[at].first = first;
        f[at].blocks += blocks;
    } else {
        if (n == kMaxFreeExtents) {
            uint32 smallest = 0;
            for (uint32 i = 1; i < n; i++)
                if (f[i].blocks < f[smallest].blocks) smallest = i;
            if (f[smallest].blocks >= blocks) {  // forget the new one
                meta->forgotten += blocks;
                return;
            }
            meta->forgotten += f[smallest].blocks;
            memmove(&f[smallest], &f[smallest + 1], sizeof(Extent) * (n - smallest - 1));
            n--;
            if (smallest < at) at--;
        }
        memmove(&f[at + 1], &f[at], sizeof(Extent) * (n - at));
        f[at] = Extent{first, blocks};
        meta->n_free = n + 1;
    }
}

bool free_take(MetaPage *meta, uint32 blocks, BlockNumber *first) {
    Extent *f = meta->free_pages;
    int best = -1;
    for (uint32 i = 0; i < meta->n_free; i++)
        if (f[i].blocks >= blocks && (best < 0 || f[i].blocks < f[best].blocks)) best = int(i);
    if (best < 0) return false;
    *first = f[best].first;
    f[best].first += blocks;
    f[best].blocks -= blocks;
    if (f[best].blocks == 0) {
        memmove(&f[best], &f[best + 1], sizeof(Extent) * (meta->n_free - best - 1));
        meta->n_free--;
    }
    return true;
}

uint64 free_page_count(const MetaPage &meta) {
    uint64 n = 0;
    for (uint32 i = 0; i < meta.n_free; i++) n += meta.free_pages[i].blocks;
    return n;
}

namespace {

// New pages at the end of the relation, found by extend() and recorded by
// its caller in the metapage (with n_blocks) in one WAL record.
struct Extension {
    BlockNumber orphans;  // pages a crashed extension left unrecorded: [orphans, first)
    BlockNumber first;
    uint32 blocks;
};

// Makes the file hold `blocks` new pages past everything the metapage
// accounts for. The caller holds the extension lock (so n_blocks and the
// file's length cannot move) and no buffer lock. The pages are written as
// zeros through smgr, not the buffer manager: the caller writes them later.
Extension extend(Relation index, uint32 blocks) {
    MetaPage meta;
    read_meta(index, &meta);
    SMgrRelation smgr = RelationGetSmgr(index);
    BlockNumber length = smgrnblocks(smgr, MAIN_FORKNUM);
    Extension e;
    e.orphans = meta.n_blocks;
    // A promoted standby's file may be shorter than its replayed metapage says.
    e.first = Max(length, meta.n_blocks);
    e.blocks = blocks;
    PGAlignedBlock zero;
    memset(zero.data, 0, BLCKSZ);
    for (BlockNumber b = length; b < e.first + blocks; b++) {
        smgrextend(smgr, MAIN_FORKNUM, b, zero.data, false);
        if ((b & 1023) == 0) CHECK_FOR_INTERRUPTS();  // an error leaves orphans, adopted next time
    }
    crash_point("extend.unrecorded");
    return e;
}

// Records an extension: orphans to the free list, n_blocks past the new pages.
void record_extension(MetaPage *meta, const Extension &e) {
    if (e.first > e.orphans) free_add(meta, e.orphans, e.first - e.orphans);
    meta->n_blocks = e.first + e.blocks;
}

// A free claim slot of the metapage, or an error (a flush publishes each
// segment before it writes the next, so at most two are in use).
int claim_slot(Relation index, Buffer metabuf) {
    const MetaPage *meta = meta_of(BufferGetPage(metabuf));
    for (int i = 0; i < kMaxClaims; i++)
        if (meta->claims[i].blocks == 0) return i;
    UnlockReleaseBuffer(metabuf);
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg("index \"%s\" has no free claim slot", RelationGetRelationName(index))));
    pg_unreachable();
}

// Takes `blocks` recycled pages and records them as a claim; InvalidBlockNumber
// if no free extent has them.
BlockNumber claim_free(Relation index, uint32 blocks) {
    BlockNumber first = InvalidBlockNumber;
    Buffer metabuf = lock_meta(index, BUFFER_LOCK_EXCLUSIVE);
    MetaPage probe;
    memcpy(&probe, meta_of(BufferGetPage(metabuf)), sizeof(MetaPage));
    if (free_take(&probe, blocks, &first)) {
        int slot = claim_slot(index, metabuf);
        GenericXLogState *state = GenericXLogStart(index);
        MetaPage *meta = meta_of(GenericXLogRegisterBuffer(state, metabuf, 0));
        free_take(meta, blocks, &first);
        meta->claims[slot] = Extent{first, blocks};
        GenericXLogFinish(state);
    }
    UnlockReleaseBuffer(metabuf);
    return first;
}

// Extends the relation by `blocks` pages and records them as a claim. The
// extension lock is held while the file grows, not while the pages are written.
BlockNumber claim_new(Relation index, uint32 blocks) {
    LockRelationForExtension(index, ExclusiveLock);
    Extension e = extend(index, blocks);
    Buffer metabuf = lock_meta(index, BUFFER_LOCK_EXCLUSIVE);
    int slot = claim_slot(index, metabuf);
    GenericXLogState *state = GenericXLogStart(index);
    MetaPage *meta = meta_of(GenericXLogRegisterBuffer(state, metabuf, 0));
    record_extension(meta, e);
    meta->claims[slot] = Extent{e.first, blocks};
    GenericXLogFinish(state);
    UnlockReleaseBuffer(metabuf);
    UnlockRelationForExtension(index, ExclusiveLock);
    return e.first;
}

}  // namespace

void grow(Relation index, uint32 blocks) {
    LockRelationForExtension(index, ExclusiveLock);
    Extension e = extend(index, blocks);
    Buffer metabuf = lock_meta(index, BUFFER_LOCK_EXCLUSIVE);
    GenericXLogState *state = GenericXLogStart(index);
    MetaPage *meta = meta_of(GenericXLogRegisterBuffer(state, metabuf, 0));
    record_extension(meta, e);
    free_add(meta, e.first, e.blocks);
    GenericXLogFinish(state);
    UnlockReleaseBuffer(metabuf);
    UnlockRelationForExtension(index, ExclusiveLock);
}

void return_claims(Relation index) {
    Buffer metabuf = lock_meta(index, BUFFER_LOCK_EXCLUSIVE);
    const MetaPage *peek = meta_of(BufferGetPage(metabuf));
    bool any = false;
    for (int i = 0; i < kMaxClaims; i++) any |= peek->claims[i].blocks > 0;
    if (any) {
        GenericXLogState *state = GenericXLogStart(index);
        MetaPage *meta = meta_of(GenericXLogRegisterBuffer(state, metabuf, 0));
        for (int i = 0; i < kMaxClaims; i++) {
            free_add(meta, meta->claims[i].first, meta->claims[i].blocks);
            meta->claims[i] = Extent{0, 0};
        }
        GenericXLogFinish(state);
    }
    UnlockReleaseBuffer(metabuf);
}

BlockNumber write_stream(Relation index, PageKind kind, const void *bytes, Size size, uint32 *n_blocks) {
    const uint32 n = stream_blocks(size);
    const char *src = static_cast<const char *>(bytes);
    BlockNumber first = claim_free(index, n);
    if (!BlockNumberIsValid(first)) first = claim_new(index, n);
    crash_point("stream.claimed");

    for (uint32 i = 0; i < n; i++) {
        if ((i & 255) == 0) CHECK_FOR_INTERRUPTS();  // the claim gives the pages back on the next flush
        Buffer buf = ReadBufferExtended(index, MAIN_FORKNUM, first + i, RBM_ZERO_AND_LOCK, nullptr);
        Page page = BufferGetPage(buf);
        init_page(page, kind);
        Size off = Size(i) * kPageDataSize;
        Size chunk = off < size ? Min(kPageDataSize, size - off) : 0;
        if (src != nullptr && chunk > 0) memcpy(page_data(page), src + off, chunk);
        set_page_used(page, chunk);
        MarkBufferDirty(buf);
        UnlockReleaseBuffer(buf);
    }

    // Nothing points at these pages until the metapage is updated, which is
    // logged after them: a crash in between leaves claimed pages only.
    if (RelationNeedsWAL(index)) log_newpage_range(index, MAIN_FORKNUM, first, first + n, true);
    crash_point("stream.written");
    *n_blocks = n;
    return first;
}

namespace {

// A hot-tier page of the chain, share- or exclusively locked, or
// InvalidBuffer (nothing locked) if `blk` is not one: a reader that followed
// a stale link.
Buffer lock_hot_page(Relation index, const MetaPage &meta, BlockNumber blk, int mode) {
    if (!BlockNumberIsValid(blk) || blk == kMetaBlock || blk >= meta.n_blocks) return InvalidBuffer;
    Buffer buf = ReadBuffer(index, blk);
    LockBuffer(buf, mode);
    Page page = BufferGetPage(buf);
    if (PageIsNew(page) || page_opaque(page)->kind != kPageHot) {
        UnlockReleaseBuffer(buf);
        return InvalidBuffer;
    }
    return buf;
}

[[noreturn]] void broken_chain(Relation index, BlockNumber blk) {
    ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                    errmsg("hot tier of index \"%s\" is broken at block %u", RelationGetRelationName(index), blk),
                    errhint("REINDEX the index.")));
    pg_unreachable();
}

}  // namespace

void hot_tier_inconsistent(Relation index) {
    ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                    errmsg("hot tier of index \"%s\" does not hold the rows its metapage lists",
                           RelationGetRelationName(index)),
                    errhint("REINDEX the index.")));
    pg_unreachable();
}

void hot_chain(Relation index, BlockNumber from, BlockNumber to, std::vector<BlockNumber> *out) {
    MetaPage meta;
    read_meta(index, &meta);
    for (BlockNumber blk = from; blk != to;) {
        if (out->size() == out->capacity())
            ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                            errmsg("hot tier of index \"%s\" has more pages than its records need",
                                   RelationGetRelationName(index))));
        Buffer buf = lock_hot_page(index, meta, blk, BUFFER_LOCK_SHARE);
        if (!BufferIsValid(buf)) broken_chain(index, blk);
        out->push_back(blk);  // within capacity: cannot throw
        blk = page_opaque(BufferGetPage(buf))->next;
        UnlockReleaseBuffer(buf);
    }
}

void read_stream_pages(Relation index, BlockNumber first, Size size, void *out) {
    BufferAccessStrategy bulk = GetAccessStrategy(BAS_BULKREAD);
    char *dst = static_cast<char *>(out);
    for (Size off = 0; off < size; off += kPageDataSize) {
        Buffer buf = ReadBufferExtended(index, MAIN_FORKNUM, first + BlockNumber(off / kPageDataSize),
                                        RBM_NORMAL, bulk);
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        memcpy(dst + off, page_data(BufferGetPage(buf)), Min(kPageDataSize, size - off));
        UnlockReleaseBuffer(buf);
    }
    FreeAccessStrategy(bulk);
}

namespace {

// The first two pages of an empty index: the metapage and the hot tier's page.
void fill_initial_pages(Page metapage, Page hotpage, uint32 dim, kyrodb::Metric metric, uint32 m,
                        uint32 ef_construction, uint32 quantization, uint32 attributes) {
    init_page(metapage, kPageMeta);
    init_page(hotpage, kPageHot);
    set_page_used(hotpage, 0);
    MetaPage *meta = meta_of(metapage);
    memset(meta, 0, sizeof(MetaPage));
    meta->magic = kMetaMagic;
    meta->version = kPageFormatVersion;
    meta->dim = dim;
    meta->metric = static_cast<uint32>(metric);
    meta->m = m;
    meta->ef_construction = ef_construction;
    meta->quantization = quantization;
    meta->attributes = attributes;
    std::random_device rd;
    meta->instance = (uint64(rd()) << 32) ^ rd() ^ uint64(GetCurrentTimestamp());
    meta->next_segment_id = 1;
    meta->hot_head = meta->hot_tail = kMetaBlock + 1;
    meta->n_blocks = 2;
    set_page_used(metapage, sizeof(MetaPage));
}

}  // namespace

void init_index_pages(Relation index, ForkNumber fork, uint32 dim, kyrodb::Metric metric, uint32 m,
                      uint32 ef_construction, uint32 quantization, uint32 attributes) {
    if (fork == INIT_FORKNUM) {
        // The init fork of an unlogged index bypasses the buffer manager, as
        // core AMs write theirs: written, WAL-logged (Generic WAL would not log
        // it, the relation being unlogged) and synced, so that a crash reset
        // and a standby both find it.
        PGAlignedBlock pages[2];
        fill_initial_pages(pages[0].data, pages[1].data, dim, metric, m, ef_construction, quantization, attributes);
        SMgrRelation smgr = RelationGetSmgr(index);
        for (BlockNumber blk = 0; blk < 2; blk++) {
            PageSetChecksumInplace(pages[blk].data, blk);
            smgrextend(smgr, INIT_FORKNUM, blk, pages[blk].data, true);
            log_newpage(&smgr->smgr_rnode.node, INIT_FORKNUM, blk, pages[blk].data, true);
        }
        smgrimmedsync(smgr, INIT_FORKNUM);
        return;
    }
    Buffer metabuf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, nullptr);
    LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
    Buffer hotbuf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, nullptr);
    LockBuffer(hotbuf, BUFFER_LOCK_EXCLUSIVE);
    if (BufferGetBlockNumber(metabuf) != kMetaBlock)
        elog(ERROR, "kyrodb index \"%s\" is not empty", RelationGetRelationName(index));

    GenericXLogState *state = GenericXLogStart(index);
    Page metapage = GenericXLogRegisterBuffer(state, metabuf, GENERIC_XLOG_FULL_IMAGE);
    Page hotpage = GenericXLogRegisterBuffer(state, hotbuf, GENERIC_XLOG_FULL_IMAGE);
    fill_initial_pages(metapage, hotpage, dim, metric, m, ef_construction, quantization, attributes);
    GenericXLogFinish(state);

    UnlockReleaseBuffer(hotbuf);
    UnlockReleaseBuffer(metabuf);
}

namespace {

// Most pages one hot-tier record touches: 8 + 16,000 * 4 bytes over pages of
// kPageDataSize, starting anywhere in the first.
constexpr int kMaxRecordPages = 10;
// Generic WAL registers at most 4 buffers per record: the metapage and 3 pages.
constexpr int kPagesPerRecord = MAX_GENERIC_XLOG_PAGES - 1;

struct AppendPage {
    Buffer buf;
    bool fresh;  // taken from the free list: initialised and linked by the append
    Size off;    // where the record's bytes go on the page
    Size len;    // how many
};

void unlock_pages(AppendPage *pages, int n) {
    for (int k = n - 1; k >= 0; k--) UnlockReleaseBuffer(pages[k].buf);
}

// Pages the hot tier grows by when the free list has none: a batch, so that
// inserts take the extension lock rarely.
uint32 grow_batch(const MetaPage &meta, uint32 needed) {
    return Max(needed, Min(Max(meta.n_blocks / 64, BlockNumber(8)), BlockNumber(512)));
}

}  // namespace

uint32 hot_batch_rows(uint32 row_floats) {
    // A batch reaches at most 3 pages, so that it is one WAL record: two
    // pages of data and the rest of the tail.
    return uint32(Max(Size(1), 2 * kPageDataSize / hot_record_size(row_floats)));
}

uint64 hot_append(Relation index, const uint64 *tids, const float *rows, uint32 count) {
    Buffer metabuf;
    AppendPage pages[kMaxRecordPages];
    int n = 0;
    Size batch_size;  // bytes of the records appended
    char *record = nullptr;

    // Lock the metapage, the tail and every page the record will reach:
    // pages already linked after the tail (an earlier append that did not
    // finish left them), then free pages. With too few free pages, grow the
    // relation with no buffer lock held and start again.
    for (;;) {
        metabuf = lock_meta(index, BUFFER_LOCK_EXCLUSIVE);
        const MetaPage *peek = meta_of(BufferGetPage(metabuf));
        const uint32 floats = row_floats(*peek);
        const Size one = hot_record_size(floats);
        batch_size = one * count;
        if (count == 0 || count > hot_batch_rows(floats))
            elog(ERROR, "kyrodb: hot-tier batch of %u rows", count);
        if (record == nullptr) {
            record = static_cast<char *>(palloc0(batch_size));
            for (uint32 i = 0; i < count; i++) {
                memcpy(record + i * one, &tids[i], sizeof(uint64));
                memcpy(record + i * one + sizeof(uint64), rows + size_t(i) * floats, sizeof(float) * floats);
            }
        }
        // lock_meta checked 0 <= off <= kPageDataSize.
        const Size off = peek->hot_end * one - peek->hot_tail_pos;
        const Size first = Min(batch_size, kPageDataSize - off);
        const int n_new = int((batch_size - first + kPageDataSize - 1) / kPageDataSize);

        n = 0;
        Buffer tail = lock_hot_page(index, *peek, peek->hot_tail, BUFFER_LOCK_EXCLUSIVE);
        if (!BufferIsValid(tail)) {
            UnlockReleaseBuffer(metabuf);
            broken_chain(index, peek->hot_tail);
        }
        pages[n++] = AppendPage{tail, false, off, first};
        BlockNumber next = page_opaque(BufferGetPage(tail))->next;
        while (n - 1 < n_new && BlockNumberIsValid(next)) {
            Buffer buf = lock_hot_page(index, *peek, next, BUFFER_LOCK_EXCLUSIVE);
            if (!BufferIsValid(buf)) {
                unlock_pages(pages, n);
                UnlockReleaseBuffer(metabuf);
                broken_chain(index, next);
            }
            pages[n++] = AppendPage{buf, false, 0, 0};
            next = page_opaque(BufferGetPage(buf))->next;
        }
        const int n_fresh = n_new - (n - 1);
        BlockNumber fresh[kMaxRecordPages];
        bool enough = true;
        if (n_fresh > 0) {
            MetaPage probe;
            memcpy(&probe, peek, sizeof(MetaPage));
            for (int j = 0; j < n_fresh && enough; j++) enough = free_take(&probe, 1, &fresh[j]);
        }
        if (!enough) {
            uint32 batch = grow_batch(*peek, uint32(n_fresh));
            unlock_pages(pages, n);
            UnlockReleaseBuffer(metabuf);
            grow(index, batch);
            continue;
        }
        for (int j = 0; j < n_fresh; j++)
            pages[n++] = AppendPage{ReadBufferExtended(index, MAIN_FORKNUM, fresh[j], RBM_ZERO_AND_LOCK, nullptr),
                                    true, 0, 0};
        Size left = batch_size - first;
        for (int k = 1; k < n; k++) {
            pages[k].len = Min(left, kPageDataSize);
            left -= pages[k].len;
        }
        break;
    }

    // Writes into the registered image of page k, linking it first if fresh.
    auto fill = [&](MetaPage *meta, Page *images, int k, Size *copied) {
        if (pages[k].fresh) {
            init_page(images[k], kPageHot);
            BlockNumber taken;
            free_take(meta, 1, &taken);
            Assert(taken == BufferGetBlockNumber(pages[k].buf));
            page_opaque(images[k - 1])->next = taken;
            pages[k].fresh = false;
        }
        memcpy(page_data(images[k]) + pages[k].off, record + *copied, pages[k].len);
        *copied += pages[k].len;
        set_page_used(images[k], pages[k].off + pages[k].len);
    };
    auto publish_append = [&](MetaPage *meta) {
        meta->hot_end += count;
        meta->hot_tail = BufferGetBlockNumber(pages[n - 1].buf);
        meta->hot_tail_pos += uint64(n - 1) * kPageDataSize;
    };

    Page images[kMaxRecordPages];
    Size copied = 0;
    if (n <= kPagesPerRecord) {
        // The common case, and every record up to ~4,000 dimensions: link,
        // write and publish in one WAL record.
        GenericXLogState *state = GenericXLogStart(index);
        MetaPage *meta = meta_of(GenericXLogRegisterBuffer(state, metabuf, 0));
        for (int k = 0; k < n; k++)
            images[k] = GenericXLogRegisterBuffer(state, pages[k].buf, pages[k].fresh ? GENERIC_XLOG_FULL_IMAGE : 0);
        for (int k = 0; k < n; k++) fill(meta, images, k, &copied);
        publish_append(meta);
        GenericXLogFinish(state);
    } else {
        // Larger records: first link the fresh pages, one WAL record each
        // (taking a page from the free list and linking it is atomic), then
        // write the bytes, the last record publishing them. A crash or error
        // in between leaves pages linked after the tail and unpublished bytes,
        // which the next append reuses and overwrites.
        for (int k = 1; k < n; k++) {
            if (!pages[k].fresh) continue;
            GenericXLogState *state = GenericXLogStart(index);
            MetaPage *meta = meta_of(GenericXLogRegisterBuffer(state, metabuf, 0));
            Page prev = GenericXLogRegisterBuffer(state, pages[k - 1].buf, 0);
            Page page = GenericXLogRegisterBuffer(state, pages[k].buf, GENERIC_XLOG_FULL_IMAGE);
            init_page(page, kPageHot);
            BlockNumber taken;
            free_take(meta, 1, &taken);
            page_opaque(prev)->next = taken;
            pages[k].fresh = false;
            GenericXLogFinish(state);
            crash_point("hot_append.linked");
        }
        for (int k = 0; k < n; k += kPagesPerRecord) {
            int upto = Min(n, k + kPagesPerRecord);
            bool last = upto == n;
            GenericXLogState *state = GenericXLogStart(index);
            MetaPage *meta = last ? meta_of(GenericXLogRegisterBuffer(state, metabuf, 0)) : nullptr;
            for (int j = k; j < upto; j++) images[j] = GenericXLogRegisterBuffer(state, pages[j].buf, 0);
            for (int j = k; j < upto; j++) fill(meta, images, j, &copied);
            if (last) publish_append(meta);
            GenericXLogFinish(state);
            if (!last) crash_point("hot_append.written");
        }
    }
    const MetaPage *done = meta_of(BufferGetPage(metabuf));
    uint64 hot_rows = done->hot_end - done->hot_start;
    unlock_pages(pages, n);
    UnlockReleaseBuffer(metabuf);
    pfree(record);
    return hot_rows;
}

bool hot_scan(Relation index, const MetaPage &meta, HotVisitor visit, void *context, HotScanEnd *end,
              const HotScanEnd *from) {
    const Size record_size = hot_record_size(row_floats(meta));
    uint64 rec = from ? from->record : meta.hot_start;
    BlockNumber blk = from ? from->block : meta.hot_head;
    uint64 page_pos = from ? from->page_pos : meta.hot_head_pos;
    if (rec >= meta.hot_end) {  // nothing to read (and `blk` may be a page not yet linked)
        if (end != nullptr) *end = HotScanEnd{rec, blk, page_pos};
        return rec == meta.hot_end;
    }
    char *assembled = static_cast<char *>(palloc(record_size));
    Size have = 0;  // bytes of record `rec` gathered into `assembled`
    bool stopped = false, consistent = true;

    while (rec < meta.hot_end) {
        Buffer buf = lock_hot_page(index, meta, blk, BUFFER_LOCK_SHARE);
        if (!BufferIsValid(buf)) {
            consistent = false;
            break;
        }
        Page page = BufferGetPage(buf);
        const char *data = page_data(page);
        const uint64 page_end = page_pos + kPageDataSize;
        while (rec < meta.hot_end && !stopped) {
            uint64 pos = rec * record_size + have;  // next byte of the record wanted
            if (pos >= page_end) break;
            Size avail = page_end - pos;
            const char *src = data + (pos - page_pos);
            const char *whole = nullptr;
            if (have == 0 && avail >= record_size) {
                whole = src;
            } else {
                Size chunk = Min(avail, record_size - have);
                memcpy(assembled + have, src, chunk);
                have += chunk;
                if (have < record_size) break;  // continues on the next page
                whole = assembled;
            }
            uint64 tid;
            memcpy(&tid, whole, sizeof(tid));
            if (tid != 0) stopped = !visit(context, rec, tid, reinterpret_cast<const float *>(whole + sizeof(tid)));
            have = 0;
            rec++;
        }
        BlockNumber next = page_opaque(page)->next;
        UnlockReleaseBuffer(buf);
        if (rec >= meta.hot_end || stopped) break;
        blk = next;
        page_pos += kPageDataSize;
    }
    pfree(assembled);
    if (!consistent) return false;
    if (end != nullptr) *end = HotScanEnd{rec, blk, page_pos};
    return true;
}

void hot_delete(Relation index, const MetaPage &meta, bool (*callback)(ItemPointer, void *), void *state,
                uint64 *removed, uint64 *live) {
    const Size record_size = hot_record_size(row_floats(meta));
    BlockNumber blk = meta.hot_head;
    uint64 page_pos = meta.hot_head_pos;
    uint64 rec = meta.hot_start;
    Size *dead = static_cast<Size *>(palloc(sizeof(Size) * (kPageDataSize / sizeof(uint64))));
    while (rec < meta.hot_end) {
        const uint64 page_end = page_pos + kPageDataSize;
        Buffer buf = lock_hot_page(index, meta, blk, BUFFER_LOCK_EXCLUSIVE);
        if (!BufferIsValid(buf)) broken_chain(index, blk);  // the maintenance lock holds flushes off
        Page page = BufferGetPage(buf);
        int n_dead = 0;
        // records whose TID (first 8 bytes) lies on this page
        for (; rec < meta.hot_end && rec * record_size < page_end; rec++) {
            Size off = rec * record_size - page_pos;
            uint64 tid;
            memcpy(&tid, page_data(page) + off, sizeof(tid));
            if (tid == 0) continue;
            ItemPointerData heap_tid;
            decode_tid(tid, &heap_tid);
            if (callback(&heap_tid, state))
                dead[n_dead++] = off;
            else
                (*live)++;
        }
        if (n_dead > 0) {
            GenericXLogState *xlog = GenericXLogStart(index);
            Page copy = GenericXLogRegisterBuffer(xlog, buf, 0);
            for (int i = 0; i < n_dead; i++) memset(page_data(copy) + dead[i], 0, sizeof(uint64));
            GenericXLogFinish(xlog);
            *removed += n_dead;
            crash_point("hot_delete.page");
        }
        BlockNumber next = page_opaque(page)->next;
        UnlockReleaseBuffer(buf);
        blk = next;
        page_pos = page_end;
    }
    pfree(dead);
    // Backends keep copies of the hot tier (hot_mirror.cpp) until the
    // records are cleared: a new hot_cleared makes them drop the cleared rows
    // before the heap can give their TIDs to new rows. Every time, not only
    // when rows were cleared here: an earlier VACUUM may have cleared some and
    // failed before this record.
    Buffer metabuf = lock_meta(index, BUFFER_LOCK_EXCLUSIVE);
    GenericXLogState *xlog = GenericXLogStart(index);
    MetaPage *meta_copy = meta_of(GenericXLogRegisterBuffer(xlog, metabuf, 0));
    meta_copy->generation++;
    meta_copy->hot_cleared++;
    GenericXLogFinish(xlog);
    UnlockReleaseBuffer(metabuf);
}

kyrodb::Metric index_metric(Relation index) {
    Oid proc = index_getprocid(index, 1, 1);
    char *name = get_func_name(proc);
    if (name != nullptr) {
        if (strcmp(name, "vector_l2_squared_distance") == 0) return kyrodb::Metric::L2;
        if (strcmp(name, "vector_negative_inner_product") == 0) return kyrodb::Metric::InnerProduct;
        if (strcmp(name, "cosine_distance") == 0) return kyrodb::Metric::Cosine;
    }
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("kyrodb does not support distance function %s", name ? name : "(unknown)"),
                    errhint("Use vector_l2_ops, vector_ip_ops or vector_cosine_ops.")));
    pg_unreachable();
}

}  // namespace kyrodb::pg
