#include "index/attributes.h"
#include "index/index.h"
#include "runtime/guard.h"

extern "C" {
#include "access/stratnum.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <vector>

namespace kyrodb::pg {
namespace {

constexpr uint64 kHashSeed = 0x6b79726f4442ull;  // any fixed value: hashes are stored on disk
// Strategies of the array operator classes (after btree's 1..5).
constexpr StrategyNumber kOverlapStrategy = 6;   // &&
constexpr StrategyNumber kContainsStrategy = 7;  // @>

uint64 hash_text(Datum d) {
    text *t = DatumGetTextPP(d);
    uint64 h = hash_bytes_extended(reinterpret_cast<const unsigned char *>(VARDATA_ANY(t)), int(VARSIZE_ANY_EXHDR(t)),
                                   kHashSeed);
    if (reinterpret_cast<Pointer>(t) != DatumGetPointer(d)) pfree(t);
    return h;
}

// The hash of an array element: integers of any width by value, text by its bytes.
uint64 element_hash(Oid type, Datum d) {
    int64 v;
    switch (type) {
        case INT4OID: v = DatumGetInt32(d); break;
        case INT8OID: v = DatumGetInt64(d); break;
        case TEXTOID: return hash_text(d);
        default: elog(ERROR, "kyrodb: no signature for arrays of type %u", type);
    }
    return hash_bytes_extended(reinterpret_cast<const unsigned char *>(&v), sizeof v, kHashSeed);
}

// The elements of an array datum (palloc'd) and their type.
Oid array_elements(Datum d, Datum **elems, bool **nulls, int *count) {
    ArrayType *array = DatumGetArrayTypeP(d);
    const Oid type = ARR_ELEMTYPE(array);
    int16 typlen;
    bool typbyval;
    char typalign;
    get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
    deconstruct_array(array, type, typlen, typbyval, typalign, elems, nulls, count);
    return type;
}

// The signature bits of each element of an array datum, palloc'd (*n of
// them; nulls skipped, *has_null says whether there were any).
uint64 *element_bits(Datum d, int *n, bool *has_null) {
    Datum *elems;
    bool *nulls;
    int count;
    const Oid type = array_elements(d, &elems, &nulls, &count);
    uint64 *bits = static_cast<uint64 *>(palloc(sizeof(uint64) * Max(count, 1)));
    *n = 0;
    *has_null = false;
    for (int i = 0; i < count; i++) {
        if (nulls[i]) *has_null = true;
        else bits[(*n)++] = kyrodb::signature_bits(element_hash(type, elems[i]));
    }
    return bits;
}

int64 encode(Oid type, Datum d) {
    switch (type) {
        case INT4ARRAYOID:
        case INT8ARRAYOID:
        case TEXTARRAYOID: {
            bool has_null;
            int n;
            uint64 *bits = element_bits(d, &n, &has_null);
            uint64 sig = 0;
            for (int i = 0; i < n; i++) sig |= bits[i];
            pfree(bits);
            return int64(sig);
        }
        case INT2OID: return DatumGetInt16(d);
        case INT4OID: return DatumGetInt32(d);
        case INT8OID: return DatumGetInt64(d);
        case BOOLOID: return DatumGetBool(d) ? 1 : 0;
        case DATEOID: return DatumGetDateADT(d);
        case TIMESTAMPOID: return DatumGetTimestamp(d);
        case TIMESTAMPTZOID: return DatumGetTimestampTz(d);
        case TEXTOID:
        case VARCHAROID:
            return int64(hash_text(d));
        case UUIDOID:
            return int64(hash_bytes_extended(DatumGetUUIDP(d)->data, UUID_LEN, kHashSeed));
        default:
            elog(ERROR, "kyrodb: no attribute encoding for type %u", type);
    }
    pg_unreachable();
}

}  // namespace

AttrKind attr_kind(Oid type) {
    switch (type) {
        case INT2OID:
        case INT4OID:
        case INT8OID:
        case BOOLOID:
        case DATEOID:
        case TIMESTAMPOID:
        case TIMESTAMPTZOID:
            return AttrKind::Ordered;
        case TEXTOID:
        case VARCHAROID:
        case UUIDOID:
            return AttrKind::Hashed;
        case INT4ARRAYOID:
        case INT8ARRAYOID:
        case TEXTARRAYOID:
            return AttrKind::Signature;
        default:
            return AttrKind::Unsupported;
    }
}

Datum decode_attribute(Oid type, uint64 word) {
    const int64 v = int64(word);
    switch (type) {
        case INT2OID: return Int16GetDatum(int16(v));
        case INT4OID: return Int32GetDatum(int32(v));
        case INT8OID: return Int64GetDatum(v);
        case BOOLOID: return BoolGetDatum(v != 0);
        case DATEOID: return DateADTGetDatum(DateADT(v));
        case TIMESTAMPOID: return TimestampGetDatum(v);
        case TIMESTAMPTZOID: return TimestampTzGetDatum(v);
        default: elog(ERROR, "kyrodb: a column of type %u cannot be returned from the index", type);
    }
    pg_unreachable();
}

uint32 check_index_columns(Relation index) {
    // INCLUDE columns are stored like filter columns, after them; they take
    // no conditions and are there to come back from index-only scans.
    const int natts = IndexRelationGetNumberOfAttributes(index);
    const int nkeys = IndexRelationGetNumberOfKeyAttributes(index);
    if (attr_kind(getBaseType(TupleDescAttr(index->rd_att, 0)->atttypid)) != AttrKind::Unsupported)
        ereport(ERROR, (errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
                        errmsg("the first column of a kyrodb index must be a vector"),
                        errhint("Put the vector column first and the filter columns after it.")));
    if (natts - 1 > int(kyrodb::kMaxAttributes))
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("a kyrodb index can have at most %u filter and included columns",
                               kyrodb::kMaxAttributes)));
    for (int a = 1; a < natts; a++) {
        Form_pg_attribute att = TupleDescAttr(index->rd_att, a);
        const Oid type = getBaseType(att->atttypid);  // a domain is stored as its base type
        if (a >= nkeys && !attr_returnable(type))
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("included column %d of a kyrodb index has type %s, which the index cannot return",
                                   a + 1, format_type_be(att->atttypid)),
                            errdetail("Included columns come back from index-only scans; the index keeps only "
                                      "integers, booleans, dates and timestamps as they are."),
                            errhint("Include int2, int4, int8, bool, date, timestamp or timestamptz columns.")));
        if (attr_kind(type) == AttrKind::Unsupported)
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("column %d of a kyrodb index has type %s, which cannot be a filter column", a + 1,
                                   format_type_be(att->atttypid)),
                            errdetail("Only the first column is a vector; the others are filter columns."),
                            errhint("Filter columns can be int2, int4, int8, bool, date, timestamp, timestamptz, "
                                    "text, varchar, uuid, int4[], int8[] or text[].")));
        if (attr_kind(type) != AttrKind::Ordered && OidIsValid(index->rd_indcollation[a]) &&
            !get_collation_isdeterministic(index->rd_indcollation[a]))
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("kyrodb filter columns do not support nondeterministic collations")));
    }
    return uint32(natts - 1);
}

void encode_attributes(const IndexCache &cache, const Datum *values, const bool *isnull, uint64 *row) {
    if (cache.attributes == 0) return;
    row[0] = 0;
    for (uint32 a = 0; a < cache.attributes; a++) {
        if (isnull[1 + a]) {
            row[0] |= uint64(1) << a;
            row[1 + a] = 0;
        } else {
            row[1 + a] = uint64(encode(cache.attr_types[a], values[1 + a]));
        }
    }
}

void store_attributes(const IndexCache &cache, const Datum *values, const bool *isnull, float *row) {
    if (cache.attributes == 0) return;
    uint64 attrs[1 + kyrodb::kMaxAttributes];
    encode_attributes(cache, values, isnull, attrs);
    memcpy(row + cache.dim, attrs, sizeof(uint64) * kyrodb::attr_row_words(cache.attributes));
}

namespace {

// One comparison `attribute <strategy> v` into the filter.
void add_comparison(kyrodb::Filter *f, uint32 attr, StrategyNumber strategy, int64 v) {
    constexpr int64 lowest = std::numeric_limits<int64>::min(), highest = std::numeric_limits<int64>::max();
    switch (strategy) {
        case BTLessStrategyNumber:
            if (v == lowest) f->require_nothing();
            else f->require_range(attr, lowest, v - 1);
            break;
        case BTLessEqualStrategyNumber: f->require_range(attr, lowest, v); break;
        case BTEqualStrategyNumber: f->require_range(attr, v, v); break;
        case BTGreaterEqualStrategyNumber: f->require_range(attr, v, highest); break;
        case BTGreaterStrategyNumber:
            if (v == highest) f->require_nothing();
            else f->require_range(attr, v + 1, highest);
            break;
        default:
            throw std::runtime_error("kyrodb: unknown scan key strategy");
    }
}

// encode() for a caller holding C++ objects.
int64 encode_guarded(Oid type, Datum d) {
    int64 v = 0;
    pg_call([&] { v = encode(type, d); });
    return v;
}

}  // namespace

bool scan_filter(const IndexCache &cache, const ScanKeyData *keys, int nkeys, kyrodb::Filter *out) {
    bool recheck = false;
    for (int k = 0; k < nkeys; k++) {
        const ScanKeyData &key = keys[k];
        const int attno = key.sk_attno;
        if (attno < 2 || uint32(attno - 2) >= cache.attributes) throw std::runtime_error("kyrodb: scan key on the vector");
        const uint32 attr = uint32(attno - 2);
        const Oid column_type = cache.attr_types[attr];
        if (key.sk_flags & SK_ISNULL) {
            if (key.sk_flags & SK_SEARCHNULL) out->require_null(attr, true);
            else if (key.sk_flags & SK_SEARCHNOTNULL) out->require_null(attr, false);
            else out->require_nothing();  // a comparison with NULL is never true
            continue;
        }
        if (attr_kind(column_type) == AttrKind::Signature) {
            recheck = true;
            uint64 *elements = nullptr;
            int n = 0;
            bool has_null = false;
            pg_call([&] { elements = element_bits(key.sk_argument, &n, &has_null); });
            std::vector<uint64> bits(elements, elements + n);
            if (key.sk_strategy == kOverlapStrategy) {
                out->require_overlap(attr, std::move(bits));  // NULL elements overlap nothing
            } else if (key.sk_strategy == kContainsStrategy) {
                if (has_null) out->require_nothing();  // no array contains a NULL element
                uint64 all = 0;
                for (uint64 b : bits) all |= b;
                out->require_all_bits(attr, all);
            } else {
                throw std::runtime_error("kyrodb: unknown strategy on an array column");
            }
            continue;
        }
        // The right-hand side has its own type in cross-type operators (int4 = int8).
        const Oid arg_type = OidIsValid(key.sk_subtype) ? key.sk_subtype : column_type;
        if (attr_kind(column_type) == AttrKind::Hashed) {
            recheck = true;
            if (key.sk_strategy != BTEqualStrategyNumber) throw std::runtime_error("kyrodb: only = on a hashed column");
        }
        if (!(key.sk_flags & SK_SEARCHARRAY)) {
            add_comparison(out, attr, key.sk_strategy, encode_guarded(arg_type, key.sk_argument));
            continue;
        }
        // column <op> ANY(array): for = a set of values, for an inequality
        // the most permissive element.
        Oid elem_type = InvalidOid;
        Datum *elems = nullptr;
        bool *nulls = nullptr;
        int n = 0;
        pg_call([&] { elem_type = array_elements(key.sk_argument, &elems, &nulls, &n); });
        std::vector<int64> values;
        for (int i = 0; i < n; i++)
            if (!nulls[i]) values.push_back(encode_guarded(elem_type, elems[i]));
        if (values.empty()) {
            out->require_nothing();
            continue;
        }
        switch (key.sk_strategy) {
            case BTEqualStrategyNumber:
                out->require_in(attr, std::move(values));
                break;
            case BTLessStrategyNumber:
            case BTLessEqualStrategyNumber:
                add_comparison(out, attr, key.sk_strategy, *std::max_element(values.begin(), values.end()));
                break;
            default:
                add_comparison(out, attr, key.sk_strategy, *std::min_element(values.begin(), values.end()));
                break;
        }
    }
    return recheck;
}

}  // namespace kyrodb::pg
