#include "pages.h"

extern "C" {
#include "access/genam.h"
#include "access/generic_xlog.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
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

void read_meta(Relation index, MetaPage *out) {
    Buffer buf = ReadBuffer(index, kMetaBlock);
    LockBuffer(buf, BUFFER_LOCK_SHARE);
    Page page = BufferGetPage(buf);
    const MetaPage *meta = meta_of(page);
    bool ok = !PageIsNew(page) && page_opaque(page)->kind == kPageMeta && meta->magic == kMetaMagic;
    uint32 version = ok ? meta->version : 0;
    if (ok) memcpy(out, meta, sizeof(MetaPage));
    UnlockReleaseBuffer(buf);
    if (!ok)
        ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                        errmsg("index \"%s\" is not a valid kyrodb index", RelationGetRelationName(index))));
    if (version != kPageFormatVersion)
        ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                        errmsg("index \"%s\" has page format version %u, this kyrodb reads %u",
                               RelationGetRelationName(index), version, kPageFormatVersion),
                        errhint("REINDEX the index.")));
}

Buffer extend_one(Relation index) {
    LockRelationForExtension(index, ExclusiveLock);
    Buffer buf = ReadBufferExtended(index, MAIN_FORKNUM, P_NEW, RBM_NORMAL, nullptr);
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    UnlockRelationForExtension(index, ExclusiveLock);
    return buf;
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
            if (f[smallest].blocks >= blocks) return;  // forget the new one
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

// Takes `blocks` recycled pages and records them as a claim; InvalidBlockNumber
// if no free extent (or no claim slot) is there.
BlockNumber claim_free(Relation index, uint32 blocks) {
    BlockNumber first = InvalidBlockNumber;
    Buffer metabuf = ReadBuffer(index, kMetaBlock);
    LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
    const MetaPage *peek = meta_of(BufferGetPage(metabuf));
    int slot = -1;
    for (int i = 0; i < kMaxClaims && slot < 0; i++)
        if (peek->claims[i].blocks == 0) slot = i;
    MetaPage probe;
    if (slot >= 0) {
        memcpy(&probe, peek, sizeof(MetaPage));
        if (!free_take(&probe, blocks, &first)) slot = -1;
    }
    if (slot >= 0) {
        GenericXLogState *state = GenericXLogStart(index);
        MetaPage *meta = meta_of(GenericXLogRegisterBuffer(state, metabuf, 0));
        free_take(meta, blocks, &first);
        meta->claims[slot] = Extent{first, blocks};
        GenericXLogFinish(state);
    }
    UnlockReleaseBuffer(metabuf);
    return first;
}

}  // namespace

void return_claims(Relation index) {
    Buffer metabuf = ReadBuffer(index, kMetaBlock);
    LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
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
    const bool recycled = BlockNumberIsValid(first);

    // Extending: one holder of the extension lock at a time, so the blocks come out contiguous.
    if (!recycled) LockRelationForExtension(index, ExclusiveLock);
    for (uint32 i = 0; i < n; i++) {
        Buffer buf = recycled ? ReadBufferExtended(index, MAIN_FORKNUM, first + i, RBM_ZERO_AND_LOCK, nullptr)
                              : ReadBufferExtended(index, MAIN_FORKNUM, P_NEW, RBM_NORMAL, nullptr);
        if (!recycled) {
            LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
            if (i == 0) first = BufferGetBlockNumber(buf);
        }
        Assert(BufferGetBlockNumber(buf) == first + i);
        Page page = BufferGetPage(buf);
        init_page(page, kind);
        Size off = Size(i) * kPageDataSize;
        Size chunk = off < size ? Min(kPageDataSize, size - off) : 0;
        if (src != nullptr && chunk > 0) memcpy(page_data(page), src + off, chunk);
        set_page_used(page, chunk);
        MarkBufferDirty(buf);
        UnlockReleaseBuffer(buf);
    }
    if (!recycled) UnlockRelationForExtension(index, ExclusiveLock);

    // Nothing points at these pages until the metapage is updated, which is
    // logged after them: a crash in between leaves unreferenced (or claimed)
    // pages only.
    if (RelationNeedsWAL(index)) log_newpage_range(index, MAIN_FORKNUM, first, first + n, true);
    *n_blocks = n;
    return first;
}

void hot_chain(Relation index, BlockNumber from, BlockNumber to, std::vector<BlockNumber> *out) {
    for (BlockNumber blk = from; blk != to && BlockNumberIsValid(blk);) {
        if (out->size() == out->capacity())
            ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                            errmsg("hot tier of index \"%s\" has more pages than its records need",
                                   RelationGetRelationName(index))));
        out->push_back(blk);  // within capacity: cannot throw
        Buffer buf = ReadBuffer(index, blk);
        LockBuffer(buf, BUFFER_LOCK_SHARE);
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

void init_index_pages(Relation index, ForkNumber fork, uint32 dim, kyrodb::Metric metric, uint32 m,
                      uint32 ef_construction) {
    Buffer metabuf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, nullptr);
    LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
    Buffer hotbuf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, nullptr);
    LockBuffer(hotbuf, BUFFER_LOCK_EXCLUSIVE);
    if (BufferGetBlockNumber(metabuf) != kMetaBlock)
        elog(ERROR, "kyrodb index \"%s\" is not empty", RelationGetRelationName(index));

    GenericXLogState *state = GenericXLogStart(index);
    Page metapage = GenericXLogRegisterBuffer(state, metabuf, GENERIC_XLOG_FULL_IMAGE);
    Page hotpage = GenericXLogRegisterBuffer(state, hotbuf, GENERIC_XLOG_FULL_IMAGE);
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
    std::random_device rd;
    meta->instance = (uint64(rd()) << 32) ^ rd() ^ uint64(GetCurrentTimestamp());
    meta->next_segment_id = 1;
    meta->hot_head = meta->hot_tail = BufferGetBlockNumber(hotbuf);
    set_page_used(metapage, sizeof(MetaPage));
    GenericXLogFinish(state);

    UnlockReleaseBuffer(hotbuf);
    UnlockReleaseBuffer(metabuf);
}

uint64 hot_append(Relation index, uint64 tid, const float *vector) {
    Buffer metabuf = ReadBuffer(index, kMetaBlock);
    LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
    const MetaPage *peek = meta_of(BufferGetPage(metabuf));
    const Size record_size = hot_record_size(peek->dim);

    char *record = static_cast<char *>(palloc(record_size));
    memcpy(record, &tid, sizeof(tid));
    memcpy(record + sizeof(tid), vector, sizeof(float) * peek->dim);

    Buffer cur = ReadBuffer(index, peek->hot_tail);
    LockBuffer(cur, BUFFER_LOCK_EXCLUSIVE);
    Size off = peek->hot_end * record_size - peek->hot_tail_pos;
    Size written = 0;

    // A record larger than a page spans several WAL records; hot_end moves
    // only with the last, so a crash midway leaves the record unwritten.
    while (written < record_size) {
        GenericXLogState *state = GenericXLogStart(index);
        MetaPage *meta = meta_of(GenericXLogRegisterBuffer(state, metabuf, 0));
        Page page = GenericXLogRegisterBuffer(state, cur, 0);
        Buffer fresh = InvalidBuffer;
        if (off == kPageDataSize) {
            BlockNumber reuse;
            fresh = free_take(meta, 1, &reuse)
                        ? ReadBufferExtended(index, MAIN_FORKNUM, reuse, RBM_ZERO_AND_LOCK, nullptr)
                        : extend_one(index);
            Page fresh_page = GenericXLogRegisterBuffer(state, fresh, GENERIC_XLOG_FULL_IMAGE);
            init_page(fresh_page, kPageHot);
            page_opaque(page)->next = BufferGetBlockNumber(fresh);
            meta->hot_tail = BufferGetBlockNumber(fresh);
            meta->hot_tail_pos += kPageDataSize;
            page = fresh_page;
            off = 0;
        }
        Size chunk = Min(record_size - written, kPageDataSize - off);
        memcpy(page_data(page) + off, record + written, chunk);
        off += chunk;
        written += chunk;
        set_page_used(page, off);
        if (written == record_size) meta->hot_end++;
        GenericXLogFinish(state);
        if (BufferIsValid(fresh)) {
            UnlockReleaseBuffer(cur);
            cur = fresh;
        }
    }
    uint64 hot_rows = peek->hot_end - peek->hot_start;
    UnlockReleaseBuffer(cur);
    UnlockReleaseBuffer(metabuf);
    pfree(record);
    return hot_rows;
}

void hot_scan(Relation index, const MetaPage &meta, HotVisitor visit, void *context, HotScanEnd *end) {
    const Size record_size = hot_record_size(meta.dim);
    char *assembled = static_cast<char *>(palloc(record_size));
    uint64 rec = meta.hot_start;
    Size have = 0;  // bytes of record `rec` gathered into `assembled`
    BlockNumber blk = meta.hot_head;
    uint64 page_pos = meta.hot_head_pos;

    while (rec < meta.hot_end && BlockNumberIsValid(blk)) {
        Buffer buf = ReadBuffer(index, blk);
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        Page page = BufferGetPage(buf);
        const char *data = page_data(page);
        const uint64 page_end = page_pos + kPageDataSize;
        while (rec < meta.hot_end) {
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
            if (tid != 0) visit(context, rec, tid, reinterpret_cast<const float *>(whole + sizeof(tid)));
            have = 0;
            rec++;
        }
        BlockNumber next = page_opaque(page)->next;
        bool done = rec >= meta.hot_end;
        UnlockReleaseBuffer(buf);
        if (done) break;
        blk = next;
        page_pos += kPageDataSize;
    }
    if (rec < meta.hot_end)
        ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                        errmsg("hot tier of index \"%s\" ends before record %llu of %llu",
                               RelationGetRelationName(index), (unsigned long long) rec,
                               (unsigned long long) meta.hot_end)));
    if (end != nullptr) {
        end->block = blk;
        end->page_pos = page_pos;
    }
    pfree(assembled);
}

void hot_delete(Relation index, const MetaPage &meta, bool (*callback)(ItemPointer, void *), void *state,
                uint64 *removed, uint64 *live) {
    const Size record_size = hot_record_size(meta.dim);
    BlockNumber blk = meta.hot_head;
    uint64 page_pos = meta.hot_head_pos;
    uint64 rec = meta.hot_start;
    Size *dead = static_cast<Size *>(palloc(sizeof(Size) * (kPageDataSize / sizeof(uint64))));
    while (rec < meta.hot_end && BlockNumberIsValid(blk)) {
        const uint64 page_end = page_pos + kPageDataSize;
        Buffer buf = ReadBuffer(index, blk);
        LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
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
        }
        BlockNumber next = page_opaque(page)->next;
        UnlockReleaseBuffer(buf);
        blk = next;
        page_pos = page_end;
    }
    pfree(dead);
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
