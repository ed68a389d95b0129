// Filter columns: the index's columns after the vector (and after them its
// INCLUDE columns), stored per element as 64-bit attributes
// (kyrodb/filter.h), and the scan keys on them turned into a kyrodb::Filter.
#pragma once

#include "pg.h"

extern "C" {
#include "access/skey.h"
#include "utils/rel.h"
}

#include "kyrodb/filter.h"

namespace kyrodb::pg {

struct IndexCache;

// Integers, booleans, dates and timestamps keep their order as int64;
// text, varchar and uuid are hashed (equality only, and the executor
// rechecks: two values may share a hash); int4[], int8[] and text[] are
// signatures of their elements (&& and @>, rechecked too).
enum class AttrKind : uint8 { Unsupported, Ordered, Hashed, Signature };
AttrKind attr_kind(Oid type);

// A column of this kind is stored as its own value (Ordered), so an
// index-only scan can return it; decode_attribute gives it back.
inline bool attr_returnable(Oid type) { return attr_kind(type) == AttrKind::Ordered; }
Datum decode_attribute(Oid type, uint64 word);

// Errors unless the first column is a vector, every other key column a
// supported filter column and every INCLUDE column returnable; returns the
// number of columns after the vector.
uint32 check_index_columns(Relation index);

// An element's attribute row (attr_row_words(cache.attributes) words) from
// the index columns' values.
void encode_attributes(const IndexCache &cache, const Datum *values, const bool *isnull, uint64 *row);
// The same, written after the vector of an element row (`row`: the vector's
// cache.dim floats, then the attribute words, which may not be 8-byte aligned).
void store_attributes(const IndexCache &cache, const Datum *values, const bool *isnull, float *row);

// The filter of a scan's keys. Returns whether the executor must recheck
// them (some compare a hashed column).
bool scan_filter(const IndexCache &cache, const ScanKeyData *keys, int nkeys, kyrodb::Filter *out);

}  // namespace kyrodb::pg
