// INSERT: append to the hot tier only. No graph work, O(1) per row; the row
// is searchable (exactly) by the next scan and moves into a segment on flush,
// which a background worker starts once the hot tier passes
// kyrodb.flush_threshold.
#include "index.h"
#include "vector.h"

namespace kyrodb::pg {

bool insert(Relation index, Datum *values, bool *isnull, ItemPointer tid, Relation, IndexUniqueCheck, bool,
            IndexInfo *) {
    if (isnull[0]) return false;  // NULL vectors are not indexed
    const IndexCache &cache = index_cache(index);
    Vector *v = datum_get_vector(values[0]);
    check_expected_dim(cache.dim, v->dim);
    float *prepared = static_cast<float *>(palloc(sizeof(float) * v->dim));
    memcpy(prepared, v->x, sizeof(float) * v->dim);
    if (kyrodb::prepare_vector(cache.metric, prepared, v->dim) &&
        hot_append(index, encode_tid(tid), prepared) >= uint64(flush_threshold))
        request_flush(index);
    pfree(prepared);
    return false;
}

}  // namespace kyrodb::pg
